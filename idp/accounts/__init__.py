"""Accounts: users and roles, the stored policy and its inputs, trusted devices, mailed links and
passwords. Nothing here renders a page."""
