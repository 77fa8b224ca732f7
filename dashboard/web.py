"""The HTTP side of a login: an ASGI gate in front of Streamlit's own routes (no Streamlit here).

``serve.py`` mounts it through ``st.App(middleware=...)``, Streamlit's supported hook for
routes and middleware, so it runs in the single-process ``make run`` and in every process
behind the deployment's nginx alike. What it does:

- ``POST /account/claim``: the login form's tab trades its one-time ticket (dashboard.auth)
  for the login cookie ``dashboard_login``: HttpOnly (no script reads it), SameSite=Strict,
  Secure when the request came over HTTPS. The ticket is bound to the browser's Streamlit
  XSRF cookie, so a client that took over the tab's session id cannot claim it.
- ``POST /account/logout``: revokes the cookie's login (every tab of it) and deletes the cookie.
- ``/_stcore/stream`` (the WebSocket): strips any client-sent ``X-Dashboard-Login`` and
  adds one naming the cookie's login; Streamlit (``server.trustedUserHeaders``) binds each
  session to it, so presenting another browser's session id yields a fresh session, never
  that browser's.
- ``/_stcore/upload_file/…``: only for a valid login that may upload; the declared size is
  checked before a byte is read (no Content-Length → 411; larger → 413; a body longer than
  declared is cut off) and each login gets a bounded number of uploads and bytes per window.
- ``/media/…`` (downloads, images): with authentication on, only for a valid login, checked
  against the database at each request, so logout, expiry or a disabled account end them.
"""
from __future__ import annotations

import collections
import hashlib
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

LOGIN_COOKIE = "dashboard_login"
XSRF_COOKIE = "_streamlit_xsrf"
LOGIN_HEADER = "x-dashboard-login"
CLAIM_PATH = "/account/claim"
LOGOUT_PATH = "/account/logout"
UPLOAD_PREFIX = "/_stcore/upload_file"
MEDIA_PREFIX = "/media/"
STREAM_PATH = "/_stcore/stream"
UPLOAD_WINDOW_S = 600          # per login: at most UPLOADS_PER_WINDOW uploads and
UPLOADS_PER_WINDOW = 60        # UPLOAD_BYTES_FACTOR × the size limit in bytes per window
UPLOAD_BYTES_FACTOR = 5


def ticket_binding(xsrf_cookie: str | None) -> str:
    """What binds a login ticket to one browser: a hash of its Streamlit XSRF cookie."""
    return hashlib.sha256(b"bind:" + (xsrf_cookie or "").encode()).hexdigest() if xsrf_cookie else ""


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:       # a malformed Cookie header is no cookie at all
        return {}
    return {k: m.value for k, m in jar.items()}


def is_https(scope, headers: dict[str, str]) -> bool:
    if scope.get("scheme") in ("https", "wss"):
        return True
    client = scope.get("client") or ("", 0)
    # only the local proxy (nginx on the same machine) is believed about the scheme
    return _loopback(client[0]) and headers.get("x-forwarded-proto", "").lower() == "https"


def _loopback(host: str | None) -> bool:
    return bool(host) and (host.startswith("127.") or host in ("::1", "localhost"))


def client_source(peer: str | None, headers: dict[str, str]) -> str:
    """The address a login attempt comes from: the peer, or what the local proxy says it saw."""
    real = (headers.get("x-real-ip") or "").strip()
    return real[:64] if real and _loopback(peer) else (peer or "unknown")


async def _respond(send, status: int, body: bytes = b"", headers=()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"cache-control", b"no-store"), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return None
        chunks.append(msg.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        if not msg.get("more_body"):
            return b"".join(chunks)


class Gate:
    """ASGI middleware; ``user_for(token)`` → user dict or None (a database check, run in a
    worker thread), ``auth_on()`` → bool, ``max_upload_bytes``: Streamlit's size limit."""

    def __init__(self, app, *, user_for, auth_on, may_upload, claim, revoke, session_minutes,
                 max_upload_bytes: int):
        self.app = app
        self.user_for, self.auth_on, self.may_upload = user_for, auth_on, may_upload
        self.claim, self.revoke, self.session_minutes = claim, revoke, session_minutes
        self.max_upload_bytes = int(max_upload_bytes)
        self._uploads: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        headers = _headers(scope)
        token = _cookies(headers).get(LOGIN_COOKIE)
        if kind == "websocket":
            if path.endswith(STREAM_PATH):
                scope = self._with_login_header(scope, token)
            return await self.app(scope, receive, send)
        method = scope.get("method", "GET")
        if path == CLAIM_PATH:
            return await self._claim(scope, receive, send, headers, method)
        if path == LOGOUT_PATH:
            return await self._logout(send, headers, token, method, scope)
        if path.startswith(UPLOAD_PREFIX) and method in ("PUT", "POST"):
            return await self._upload(scope, receive, send, headers, token)
        if path.startswith(MEDIA_PREFIX) and await self._run(self.auth_on):
            if not token or await self._run(self.user_for, token) is None:
                return await _respond(send, 403, b"login required")
        return await self.app(scope, receive, send)

    @staticmethod
    async def _run(fn, *args):
        import anyio.to_thread
        return await anyio.to_thread.run_sync(fn, *args)

    @staticmethod
    def _with_login_header(scope, token):
        from dashboard.auth import login_id
        kept = [(k, v) for k, v in scope.get("headers") or () if k.lower() != LOGIN_HEADER.encode()]
        lid = login_id(token)
        if lid:
            kept.append((LOGIN_HEADER.encode(), lid.encode()))
        return {**scope, "headers": kept}

    @staticmethod
    def _same_origin(headers) -> bool:
        origin = headers.get("origin") or headers.get("referer") or ""
        return bool(origin) and urlsplit(origin).netloc == headers.get("host", "")

    def _cookie(self, value: str, max_age: int, secure: bool) -> tuple[bytes, bytes]:
        parts = [f"{LOGIN_COOKIE}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly",
                 "SameSite=Strict"]
        if secure:
            parts.append("Secure")
        return b"set-cookie", "; ".join(parts).encode("latin-1")

    async def _claim(self, scope, receive, send, headers, method):
        if method != "POST" or not self._same_origin(headers):
            return await _respond(send, 403, b"forbidden")
        body = await _read_body(receive, 1024)
        xsrf = _cookies(headers).get(XSRF_COOKIE)
        token = self.claim((body or b"").decode("ascii", "replace").strip(), ticket_binding(xsrf))
        if token is None:
            return await _respond(send, 403, b"ticket refused")
        cookie = self._cookie(token, int(self.session_minutes()) * 60, is_https(scope, headers))
        return await _respond(send, 204, headers=[cookie])

    async def _logout(self, send, headers, token, method, scope):
        if method != "POST" or not self._same_origin(headers):
            return await _respond(send, 403, b"forbidden")
        if token:
            self.revoke(token)
        return await _respond(send, 204, headers=[self._cookie("", 0, is_https(scope, headers))])

    async def _upload(self, scope, receive, send, headers, token):
        user = await self._run(self.user_for, token) if token else None
        if user is None or not self.may_upload(user):
            return await _respond(send, 403, b"login required")
        try:
            declared = int(headers.get("content-length", ""))
        except ValueError:
            return await _respond(send, 411, b"length required")
        # multipart framing adds a little to the file itself
        if declared < 0 or declared > self.max_upload_bytes + 64 * 1024:
            return await _respond(send, 413, b"too large")
        if not self._within_rate(str(user["id"]), declared):
            return await _respond(send, 429, b"too many uploads", [(b"retry-after", b"60")])
        seen = 0

        async def bounded():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > declared:     # more than declared: end the body here
                    return {"type": "http.disconnect"}
            return msg
        return await self.app(scope, bounded, send)

    def _within_rate(self, key: str, size: int) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._uploads.setdefault(key, collections.deque())
            while q and q[0][0] <= now - UPLOAD_WINDOW_S:
                q.popleft()
            if len(q) >= UPLOADS_PER_WINDOW or \
                    sum(s for _, s in q) + size > UPLOAD_BYTES_FACTOR * self.max_upload_bytes:
                return False
            q.append((now, size))
            return True


def gate_for_dashboard(app, max_upload_mb: int):
    """The Gate wired to the dashboard's database, settings and accounts."""
    from dashboard import auth, settings
    from dashboard.db.engine import get_engine
    from dashboard.queries import summary

    def user_for(token):
        with get_engine().connect() as conn:
            return auth.session_user(conn, token)

    def auth_on():
        mode = str(settings.get("DASHBOARD_AUTH")).strip().lower()
        if mode != "auto":
            return auth.auth_mode_on(mode, False)
        with get_engine().connect() as conn:
            return auth.auth_mode_on(mode, summary.is_demo(conn))

    def may_upload(user):
        return auth.can(user, "upload") or auth.can(user, "manage_registry")

    return Gate(app, user_for=user_for, auth_on=auth_on, may_upload=may_upload,
                claim=auth.claim_ticket, revoke=auth.revoke_session,
                session_minutes=lambda: settings.get("DASHBOARD_SESSION_MINUTES"),
                max_upload_bytes=int(max_upload_mb) * 1024 * 1024)
