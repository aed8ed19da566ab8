"""Who may use the web page: open on a loopback bind, behind a token otherwise, or off.

The page screens whatever a person types, so on a server other machines can reach it must not be
open to them. The rule (documented in the README, "The page in a browser"):

- a token is configured (`SCREENER_PAGE_TOKEN`, at least `MIN_TOKEN_LENGTH` characters): every
  API call carries it, as `Authorization: Bearer TOKEN` or as the session cookie the page's sign-in
  sets; compared with `hmac.compare_digest`;
- no token, and `screener serve` binds a loopback address (127.0.0.1, ::1, localhost): open to this
  machine, and only under a loopback host name (a page elsewhere that rebinds its DNS name to
  127.0.0.1 is refused);
- otherwise (a wider bind, or an app not started by `screener serve`, whose bind is unknown): off;
  the page and its API answer 404 with one line saying how to turn it on.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass
from enum import Enum

TOKEN_ENV = "SCREENER_PAGE_TOKEN"
"""The environment variable holding the page's access token."""
MIN_TOKEN_LENGTH = 16
"""A shorter token is refused (the page stays off): a token is the only lock on a wider bind."""
COOKIE = "screener_page"
"""The session cookie the page's sign-in sets (HttpOnly, SameSite=Strict)."""
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class Access(str, Enum):
    """How the page is reached."""

    OPEN = "open"
    """Loopback bind, no token: anyone on this machine."""
    TOKEN = "token"
    """A token is configured: every API call must carry it."""
    OFF = "off"
    """Neither: the page and its API are not served."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PagePolicy:
    """The page's access settings, fixed when the page is mounted (the bind is added by `screener serve`)."""

    token: str | None = None
    """The configured token (None: none, or one too short, see `problem`)."""
    bind: str | None = None
    """The address the server binds, when known."""
    problem: str = ""
    """Why a configured token was refused, if it was."""

    @classmethod
    def from_environment(cls, token: str | None = None) -> PagePolicy:
        """The policy for `token`, or for `$SCREENER_PAGE_TOKEN` when `token` is None."""
        raw = os.environ.get(TOKEN_ENV) if token is None else token
        raw = (raw or "").strip()
        if not raw:
            return cls()
        if len(raw) < MIN_TOKEN_LENGTH:
            return cls(problem=f"{TOKEN_ENV} is shorter than {MIN_TOKEN_LENGTH} characters")
        return cls(token=raw)

    @property
    def access(self) -> Access:
        """OPEN, TOKEN or OFF, by the rule in this module's docstring."""
        if self.token:
            return Access.TOKEN
        if self.bind is not None and is_loopback(self.bind) and not self.problem:
            return Access.OPEN
        return Access.OFF

    @property
    def off_reason(self) -> str:
        """One line: why the page is off and how to turn it on ('' when it is not off)."""
        if self.access is not Access.OFF:
            return ""
        if self.problem:
            return f"the page is off: {self.problem}"
        where = (f"the server binds {self.bind}, which is not a loopback address" if self.bind is not None
                 else "the server's bind address is unknown (not started by `screener serve`)")
        return f"the page is off: {where}; set {TOKEN_ENV} (at least {MIN_TOKEN_LENGTH} characters) to serve it"

    def session(self) -> str:
        """The cookie value that stands for the token (a keyed hash: the token itself is not stored)."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"screener page session", hashlib.sha256).hexdigest()

    def allows(self, authorization: str | None, cookie: str | None) -> bool:
        """Whether a request carrying this Authorization header and session cookie may use the API."""
        if self.access is Access.OPEN:
            return True
        if self.access is Access.OFF or self.token is None:
            return False
        ok = False
        if authorization and authorization[:7].lower() == "bearer ":
            ok = hmac.compare_digest(authorization[7:].strip().encode(), self.token.encode())
        if cookie:
            ok = hmac.compare_digest(cookie.encode(), self.session().encode()) or ok
        return ok

    def signs_in(self, token: str) -> bool:
        """Whether `token` (typed into the page's sign-in) is the configured one."""
        return self.token is not None and hmac.compare_digest(token.encode(), self.token.encode())


def is_loopback(host: str) -> bool:
    """Whether `host` (a bind address or a Host header's name) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name of a Host header, without the port ("127.0.0.1:8765" → "127.0.0.1", "[::1]:80" → "::1")."""
    header = header.strip()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header
