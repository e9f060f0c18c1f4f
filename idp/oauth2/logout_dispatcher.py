"""The back-channel logout dispatcher: a daemon thread in every provider process that delivers
the queued logout notices (``idp.models.logout_notice``), so no extra worker has to run.

* It starts with the serving process (``start``: ``idp serve``, ``idp demo``, ``idp.wsgi`` in
  each gunicorn worker), or lazily when a request of this process queues a notice; an app that
  queues none (a test's, a command's) starts no thread. A command that ends sessions (``idp
  users end-sessions``) leaves its notices to the serving processes' next look.
* It wakes at once when this process commits a notice (``after_commit``), and otherwise looks
  every ``POLL_INTERVAL`` seconds, so notices queued by another process, retries that have come
  due and claims whose sender died are picked up without a restart.
* Each attempt is claimed atomically (one process sends it) and sent by a short-lived sender
  thread, at most ``SENDERS`` at once per process: a slow client holds one sender, never a
  sign-out (which only writes the notice) nor the other clients.
* A fork (gunicorn ``--preload``) leaves the thread behind in the parent: the child drops the
  database connections it inherited (the parent's thread uses them) at once, and starts its
  own thread at its first request.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask, current_app, has_app_context, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import logout_notice
from idp.models.logout_notice import Claim
from idp.oauth2 import backchannel_logout

log = logging.getLogger(__name__)

EXTENSION = "idp.logout_dispatcher"
#: Seconds between two looks for due notices when nothing wakes the thread.
POLL_INTERVAL = 1.0
#: Seconds to wait after the database failed before looking again.
ERROR_PAUSE = 5.0
#: Attempts one process runs at once.
SENDERS = 4


class Dispatcher:
    """The dispatcher of one app in this process; ``ensure_running`` starts its thread."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.serving = False  # ``start`` was called: watch for forks and requests
        self._guard = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._senders = threading.BoundedSemaphore(SENDERS)

    @property
    def running(self) -> bool:
        thread = self._thread
        return self._pid == os.getpid() and thread is not None and thread.is_alive()

    def ensure_running(self) -> None:
        """Start the thread in this process unless it runs (cheap enough for every request)."""
        if self.running:
            return
        if self._pid is not None and self._pid != os.getpid():
            self.forked()
        with self._guard:
            if self.running:
                return
            self._reset()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="idp-logout-dispatcher", daemon=True
            )
            self._thread.start()

    def wake(self) -> None:
        """Look for due notices now (starting the thread if need be)."""
        self.ensure_running()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after its current look (tests; a process exit just ends it)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)

    def forked(self) -> None:
        """In a child of a process that ran the thread: its locks and its database connections
        are the parent's. Forget both (``dispose(close=False)`` leaves the parent's alone)."""
        if self._pid is None or self._pid == os.getpid():
            return
        self._guard = threading.Lock()
        self._reset()
        with self.app.app_context():
            db.engine.dispose(close=False)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(POLL_INTERVAL)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._dispatch()
            except Exception as exc:  # the database is down, say: keep the thread alive
                log.warning("back-channel logout dispatcher: %s; trying again", type(exc).__name__)
                self._stopping.wait(ERROR_PAUSE)

    def _dispatch(self) -> None:
        """Claim due notices while a sender is free, each sent by a thread of its own."""
        with self.app.app_context():
            while self._senders.acquire(blocking=False):
                try:
                    taken = backchannel_logout.claim_next()
                except BaseException:
                    self._senders.release()
                    raise
                if taken is None:
                    self._senders.release()
                    return
                threading.Thread(
                    target=self._send,
                    args=(taken, self._senders, self._wake),
                    name="idp-logout-sender",
                    daemon=True,
                ).start()

    def _send(self, taken: Claim, senders: threading.Semaphore, wake: threading.Event) -> None:
        """One attempt; its slot and the wake-up are the dispatcher's that started it."""
        try:
            with self.app.app_context():
                backchannel_logout.deliver(taken)
        except Exception as exc:  # its lease runs out and another attempt follows
            log.warning(
                "back-channel logout to client %s: attempt not recorded (%s)",
                taken.client_id, type(exc).__name__,
            )  # fmt: skip
        finally:
            senders.release()
            wake.set()  # more may be due


def init_app(app: Flask) -> None:
    """Give ``app`` a dispatcher; its thread starts with ``start`` or the first notice."""
    app.extensions[EXTENSION] = Dispatcher(app)


def start(app: Flask) -> Dispatcher:
    """Run the dispatcher in this serving process, and in any process forked from it (checked
    at each request: a fork leaves threads behind)."""
    dispatcher: Dispatcher = app.extensions[EXTENSION]
    dispatcher.ensure_running()
    if not dispatcher.serving:
        dispatcher.serving = True
        os.register_at_fork(after_in_child=dispatcher.forked)
        app.before_request(dispatcher.ensure_running)
    return dispatcher


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    """Wake this process's dispatcher once notices it queued are committed: at once in a
    serving process (or a request's, starting it), never in a command (no request)."""
    if not session.info.pop(logout_notice.ENQUEUED, False) or not has_app_context():
        return
    dispatcher = current_app.extensions.get(EXTENSION)
    if dispatcher is not None and (dispatcher.running or has_request_context()):
        dispatcher.wake()
