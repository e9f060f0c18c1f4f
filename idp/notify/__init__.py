"""Notifications: mail and SMS (an outbox in development, senders in production) and the security
notices sent through them. Nothing here decides anything."""
