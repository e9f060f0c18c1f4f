"""The account pages: profile, password, email, and the security page's factors and devices."""
