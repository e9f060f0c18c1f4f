"""idp: an OpenID Connect identity provider built for multi-factor authentication and step-up.

The package root imports nothing: ``idp.rp`` (the relying-app helpers) loads without Flask's
server side, SQLAlchemy or the policy engine, and no module points up at the entry layer. The
application factory is ``idp.app.create_app``.
"""
