"""WSGI entry point for gunicorn: ``gunicorn 'idp.wsgi:app'``.

gunicorn imports this module in each worker (unless ``--preload``), so each worker runs its own
back-channel logout dispatcher thread; with ``--preload`` a worker starts one at its first
request (``logout_dispatcher.start``).
"""

from idp.app import create_app
from idp.oauth2 import logout_dispatcher

app = create_app()
logout_dispatcher.start(app)
