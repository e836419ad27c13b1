"""The dashboard's security model.

- **Bind**: 127.0.0.1 by default. Any other host needs a token (``--token`` or ``SQSQ_DASHBOARD_TOKEN``);
  :func:`check_bind` refuses to start without one.
- **Token**: when set, every request must carry it: ``Authorization: Bearer <token>``, or a session cookie
  obtained by opening ``/login?token=<token>`` once (the token is compared with :func:`hmac.compare_digest`,
  in constant time). ``/healthz`` is the only open path.
- **Sessions**: a random id in an ``HttpOnly; SameSite=Strict`` cookie; the server keeps, per session, a random
  CSRF token (:class:`Sessions`). Every state-changing action is a POST whose form carries that token in the
  ``csrf`` field; a missing or wrong one is refused (403). SameSite=Strict keeps other sites' pages from sending
  the cookie at all.
- **Host and Origin**: without a token, only requests whose ``Host`` is a loopback name are served (a page on
  another site that rebinds its own DNS name to 127.0.0.1 is refused: DNS rebinding); a POST whose ``Origin``
  is another site is refused whatever the token.
- **Read-only** (``--read-only``): the action buttons are not rendered and every POST is refused (403).
- **Secrets**: arguments and results are masked (:mod:`sqsq.monitoring.masking`); settings, signing keys and
  credentials are never rendered.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
from dataclasses import dataclass

from sqsq.errors import ConfigError

SESSION_COOKIE = "sqsq_session"
MAX_SESSIONS = 10_000
"""Sessions kept; the oldest are dropped beyond this (a dropped session just gets a new one)."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token.

    Raises:
        ConfigError: ``host`` is not loopback and ``token`` is empty, shorter than 16 characters, padded with spaces
            or made of fewer than 8 distinct characters.
    """
    if is_loopback(host):
        return
    if not token:
        raise ConfigError(
            f"sqsq dashboard binds {host}, reachable from other machines: give it a token (--token or "
            "SQSQ_DASHBOARD_TOKEN, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or bind "
            "127.0.0.1"
        )
    if len(token) < 16 or token != token.strip() or len(set(token)) < 8:
        raise ConfigError(
            "the dashboard token must be at least 16 characters, without surrounding spaces, not one repeated "
            "character; use a long random one (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""``Host`` header names served without a token (the port is not compared)."""


def host_name(host_header: str) -> str:
    """The name of a ``Host`` header without its port (``[::1]:8642`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def origin_matches(origin: str | None, host_header: str) -> bool:
    """True when a request's ``Origin`` is absent or names the same host and port as its ``Host`` header."""
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1].rstrip("/") == host_header


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Session:
    """One browser session: its CSRF token and whether it presented the dashboard token."""

    csrf: str
    authenticated: bool = False


class Sessions:
    """Server-side sessions by random id (in memory; a restart starts new ones)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def get(self, session_id: str | None) -> Session | None:
        """The session of ``session_id``, or None."""
        with self._lock:
            return self._by_id.get(session_id) if session_id else None

    def new(self, authenticated: bool = False) -> tuple[str, Session]:
        """A new session (id, session) with a fresh CSRF token."""
        session_id = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), authenticated=authenticated)
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                del self._by_id[next(iter(self._by_id))]
            self._by_id[session_id] = session
        return session_id, session


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    """True when ``submitted`` is the session's CSRF token (constant-time)."""
    return session is not None and submitted is not None and hmac.compare_digest(session.csrf, submitted)
