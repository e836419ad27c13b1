"""Sessions, the token check and the POST rules (see :mod:`sqsq.dashboard.security`) as one HTTP middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse

from sqsq.dashboard.context import Dashboard
from sqsq.dashboard.security import SESSION_COOKIE, csrf_ok, host_name, origin_matches, token_matches

OPEN_PATHS = frozenset({"/healthz"})


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None


async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Attach the session; enforce the token, read-only and CSRF rules; set the session cookie."""
    board: Dashboard = request.app.state.dashboard
    host = request.headers.get("host", "")
    if board.token is None and host_name(host) not in board.allowed_hosts:
        # DNS rebinding: another site's name resolved to 127.0.0.1 would otherwise be same-origin with this page.
        return PlainTextResponse(f"host {host!r} is not served; open the dashboard at its loopback address",
                                 status_code=403)
    if request.url.path in OPEN_PATHS:
        return await call_next(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    session = board.sessions.get(session_id)
    fresh = session is None
    if request.url.path == "/login" and board.token is not None:
        if not token_matches(request.query_params.get("token"), board.token):
            return PlainTextResponse("wrong or missing token", status_code=401)
        session_id, session = board.sessions.new(authenticated=True)
        response: Response = RedirectResponse("/", status_code=303)
        _set_cookie(response, session_id)
        return response
    bearer_ok = board.token is not None and token_matches(_bearer(request), board.token)
    if board.token is not None and not bearer_ok and not (session is not None and session.authenticated):
        return PlainTextResponse("a token is required: open /login?token=... or send Authorization: Bearer ...",
                                 status_code=401)
    if session is None:
        session_id, session = board.sessions.new(authenticated=bearer_ok)
    request.state.session = session
    if request.method == "POST":
        if not origin_matches(request.headers.get("origin"), host):
            return PlainTextResponse("cross-origin POST refused", status_code=403)
        if board.read_only:
            return PlainTextResponse("this dashboard is read-only", status_code=403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        submitted = form.get("csrf", [None])[0] or request.headers.get("x-csrf-token")
        if fresh or not csrf_ok(session, submitted):
            return PlainTextResponse("missing or wrong CSRF token; reload the page and try again", status_code=403)
        request.state.form = {k: v for k, v in form.items() if k != "csrf"}
    response = await call_next(request)
    if fresh and session_id is not None:
        _set_cookie(response, session_id)
    return response


def _set_cookie(response: Response, session_id: str) -> None:
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict", path="/")
