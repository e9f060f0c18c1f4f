"""Demo relying party: a tiny Flask app that signs in with the idp over OpenID Connect."""
