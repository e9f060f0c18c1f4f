"""A real Chromium, driven by Playwright, with a virtual passkey authenticator.

Debian's ``/usr/bin/chromium`` is used instead of ``playwright install`` (which downloads its own
browser and cannot here). The flags stop Chromium from reaching out to the internet, which is not
available: background services would otherwise keep failing, and the host-resolver rule keeps
WebAuthn's ``/.well-known/webauthn`` look-ups for foreign RP IDs on the machine. WebAuthn
ceremonies are answered by a DevTools-protocol virtual authenticator, so no person is needed.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
AUTHENTICATOR_OPTIONS: dict[str, Any] = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}

# One CDP session per page, kept alive as long as the page: the virtual authenticator lives in it.
_sessions: weakref.WeakKeyDictionary[Page, CDPSession] = weakref.WeakKeyDictionary()


@contextmanager
def chromium_browser(executable: str = CHROMIUM) -> Iterator[Browser]:
    """Launch headless Debian Chromium (fresh temporary profile) and close it afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def webauthn_session(page: Page) -> CDPSession:
    """Return the page's CDP session with the WebAuthn domain enabled, creating it once.

    Use it for further WebAuthn commands, e.g. ``WebAuthn.setUserVerified`` or
    ``WebAuthn.getCredentials``.
    """
    session = _sessions.get(page)
    if session is None:
        session = page.context.new_cdp_session(page)
        session.send("WebAuthn.enable", {"enableUI": False})
        _sessions[page] = session
    return session


def add_virtual_authenticator(page: Page, **overrides: Any) -> str:
    """Attach a platform passkey authenticator (resident keys, UV) to ``page``; return its id."""
    options = {**AUTHENTICATOR_OPTIONS, **overrides}
    result = webauthn_session(page).send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return str(result["authenticatorId"])


# Notes on the page when its passkey autofill request (conditional mediation) is made; the call
# itself goes through unchanged.
_AUTOFILL_WATCH = """(() => {
  const credentials = navigator.credentials;
  if (!credentials) return;
  const get = credentials.get.bind(credentials);
  credentials.get = (options) => {
    if (options && options.mediation === "conditional") window.__passkeyAutofillPending = true;
    return get(options);
  };
})();"""


def watch_passkey_autofill(context: BrowserContext) -> None:
    """Let ``wait_for_passkey_autofill`` see the autofill request of every page of ``context``."""
    context.add_init_script(_AUTOFILL_WATCH)


def wait_for_passkey_autofill(page: Page) -> None:
    """Wait until the sign-in page's autofill request is pending, so that turning presence
    simulation back on afterwards cannot answer it: a test that means to press "Use a passkey"
    would otherwise race the page's own request (its options fetch is slow on a busy machine)."""
    for _ in range(300):  # polled with evaluate: the pages' CSP refuses wait_for_function's eval
        if page.evaluate("() => window.__passkeyAutofillPending === true"):
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError(f"the page made no passkey autofill request; at {page.url}")
    page.wait_for_timeout(250)  # the request reaches the browser process beside the CDP channel
