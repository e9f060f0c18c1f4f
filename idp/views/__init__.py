"""Web layer: HTTP in, HTTP out. Views are thin; rules live in policy, oauth2 and models."""
