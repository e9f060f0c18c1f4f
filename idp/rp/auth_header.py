"""``WWW-Authenticate`` challenges (RFC 7235 section 4.1, syntax in 2.1), parsed and written.

    WWW-Authenticate = 1#challenge
    challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param  = token BWS "=" BWS ( token / quoted-string )
    token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

Commas separate both challenges and the parameters of one challenge, so after a comma the
parser looks ahead: ``name =`` starts another parameter, a bare token starts a new challenge.
Schemes and parameter names are case-insensitive and returned lower-cased; a parameter given
twice in one challenge is refused (2.2: "each parameter name MUST only occur once"), so two
readers of one header cannot disagree on its value. Quoted strings take backslash escapes
(RFC 7230 3.2.6); control characters are refused on both sides, so no header can be split.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from idp.rp.errors import MalformedChallenge

TCHAR = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)
TOKEN68 = frozenset("-._~+/" + string.ascii_letters + string.digits)
WS = " \t"


def _qdtext_or_pair(char: str) -> bool:
    """HTAB / SP / VCHAR / obs-text: what may stand in a quoted string (escaped or not)."""
    return char == "\t" or " " <= char <= "~" or "\x80" <= char <= "\xff"


@dataclass(frozen=True)
class Challenge:
    """One challenge: its scheme, and either auth-params or a token68."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if not self.done else ""

    def fail(self, what: str) -> MalformedChallenge:
        return MalformedChallenge(f"{what} at position {self.pos}")

    def skip_ows(self) -> None:
        while self.peek() and self.peek() in WS:
            self.pos += 1

    def skip_separators(self) -> None:
        """OWS and commas: a list may hold empty elements (RFC 7230 section 7)."""
        while self.peek() and self.peek() in WS + ",":
            self.pos += 1

    def token(self) -> str | None:
        start = self.pos
        while self.peek() and self.peek() in TCHAR:
            self.pos += 1
        return self.text[start : self.pos] or None

    def quoted_string(self) -> str:
        self.pos += 1  # the opening DQUOTE
        out = []
        while not self.done:
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                if self.done or not _qdtext_or_pair(self.text[self.pos]):
                    raise self.fail("bad escape in a quoted string")
                char = self.text[self.pos]
                self.pos += 1
            elif not _qdtext_or_pair(char):
                raise self.fail("control character in a quoted string")
            out.append(char)
        raise self.fail("unterminated quoted string")

    def auth_param(self) -> tuple[str, str] | None:
        """``token BWS = BWS (token / quoted-string)``, or None (position unchanged)."""
        start = self.pos
        name = self.token()
        self.skip_ows()
        if name is None or self.peek() != "=":
            self.pos = start
            return None
        self.pos += 1
        self.skip_ows()
        value = self.quoted_string() if self.peek() == '"' else self.token()
        if value is None:
            self.pos = start
            return None
        return name.lower(), value

    def token68(self) -> str | None:
        start = self.pos
        while self.peek() and self.peek() in TOKEN68:
            self.pos += 1
        if self.pos == start:
            return None
        while self.peek() == "=":
            self.pos += 1
        return self.text[start : self.pos]

    def end_of_element(self) -> None:
        """After a value only OWS, then a comma or the end, may follow."""
        self.skip_ows()
        if not self.done and self.peek() != ",":
            raise self.fail("expected a comma")


def parse_challenges(header: str | Iterable[str]) -> tuple[Challenge, ...]:
    """Every challenge in ``header`` (one field value, or several to be joined with commas)."""
    text = header if isinstance(header, str) else ", ".join(header)
    scanner = _Scanner(text)
    challenges: list[Challenge] = []
    while True:
        scanner.skip_separators()
        if scanner.done:
            return tuple(challenges)
        challenges.append(_challenge(scanner))


def _challenge(scanner: _Scanner) -> Challenge:
    scheme = scanner.token()
    if scheme is None:
        raise scanner.fail("expected an auth-scheme")
    if scanner.done or scanner.peek() == ",":
        return Challenge(scheme.lower())
    if scanner.peek() != " ":
        raise scanner.fail("expected a space after the auth-scheme")
    scanner.skip_ows()
    if scanner.done or scanner.peek() == ",":
        return Challenge(scheme.lower())
    first = scanner.auth_param()
    if first is None:
        token68 = scanner.token68()
        if token68 is None:
            raise scanner.fail("expected a token68 or an auth-param")
        scanner.end_of_element()
        return Challenge(scheme.lower(), token68=token68)
    params = dict([first])
    while True:
        scanner.end_of_element()
        scanner.skip_separators()
        if scanner.done:
            break
        param = scanner.auth_param()
        if param is None:
            break  # a new challenge starts here
        if param[0] in params:
            raise scanner.fail(f"parameter {param[0]} given twice")
        params[param[0]] = param[1]
    return Challenge(scheme.lower(), params)


def quote(value: str) -> str:
    """A quoted-string for ``value``, escaping ``"`` and ``\\``; control characters refused."""
    if not all(_qdtext_or_pair(c) for c in value):
        raise ValueError("a header value cannot contain control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_challenge(scheme: str, params: Iterable[tuple[str, str | int]]) -> str:
    """``scheme name="value", name=123``: strings are quoted, integers written as tokens."""
    if not scheme or set(scheme) - TCHAR:
        raise ValueError("the auth-scheme must be a token")
    parts = []
    for name, value in params:
        if not name or set(name) - TCHAR:
            raise ValueError("a parameter name must be a token")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError("a parameter value must be a string or an integer")
        parts.append(f"{name}={value}" if isinstance(value, int) else f"{name}={quote(value)}")
    return f"{scheme} {', '.join(parts)}" if parts else scheme
