"""Keys: the token signing keys and the encryption key ring for secrets at rest."""
