"""idp: an OpenID Connect identity provider built for multi-factor authentication and step-up.

The package root imports nothing: ``idp.rp`` (the relying-app helpers) loads without Flask's
server side, SQLAlchemy or the policy engine. The application factory lives in ``idp.app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the provider's Flask app (see ``idp.app.create_app``)."""
    from idp.app import create_app as factory  # noqa: PLC0415 (keeps the package root light)

    return factory(test_config)
