"""The login over HTTP and WebSocket, against a running `streamlit run serve.py` (issue 17: 4, 6, 7).

A browser logs in through the form; its HttpOnly cookie is the login. Another client
that presents the browser's Streamlit session id (the WebSocket's third subprotocol)
without that cookie gets the login page; uploads and /media need the cookie; logout
in one tab ends the other; a download is made when it is asked for, for a login valid then:
a disabled account's next download gets nothing.
"""
import asyncio
import http.client
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from dashboard import auth, demo
from dashboard.db import schema as S
from dashboard.db.engine import write_txn

PW = "correct-horse-battery"


@pytest.fixture(scope="module")
def township():
    return demo.build()


@pytest.fixture
def server(engine, township, streamlit_server):
    """A 'real' (not demo) database with a leader, a clerk and an admin, served through the gate."""
    with write_txn(engine) as c:
        demo.write(c, township, username="import")
        c.execute(sa.update(S.township).values(is_demo=False))
        auth.create_user(c, "boss", PW, "leader")
        auth.create_user(c, "wen", PW, "clerk", auth.resolve_villages(c, ["红旗村"]))
        auth.create_user(c, "root", PW, "admin")
        for u in ("leader", "clerk", "admin"):
            if auth.get_user(c, u):
                auth.set_disabled(c, u, True)
    url = engine.url.render_as_string(hide_password=False)
    s = streamlit_server(url, {"DASHBOARD_AUTH": "auto", "DASHBOARD_SESSION_MINUTES": "30"})
    s.engine = engine
    return s


def browser_login(page, url, name, password=PW):
    page.context.set_default_timeout(90_000)     # two cores shared with other test runs
    page.goto(url)
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("text=退出登录", timeout=90_000)


def cookie_header(context) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())


# ---------------------------------------------------------------- a browser-less client

def _text(fm) -> str:
    from google.protobuf import text_format
    return text_format.MessageToString(fm, as_utf8=True)


async def ws_run(port, cookie="", session_id="", page="", during=None):
    """Open the app's WebSocket as the frontend does; returns (session id, all text, download
    urls), or what ``during(session_id)`` returns, called while the session is connected."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    protocols = ["streamlit", "xsrf-none", session_id] if session_id else ["streamlit"]
    headers = {"Cookie": cookie} if cookie else {}
    sid, texts, urls = None, [], []      # urls: a download's deferred file id, or its /media url
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=protocols,
                                  additional_headers=headers, max_size=None, open_timeout=120,
                                  ping_timeout=None) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_name = page
        await ws.send(msg.SerializeToString())
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(ws.recv(), 120))
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                sid = fm.new_session.initialize.session_id
            if kind == "delta":
                # what the page says, not the table of Streamlit's own words in Chinese that every
                # page carries (dashboard/ui/streamlit_zh.py: it holds 退出登录 and the like)
                if "__zhUiCfg" not in fm.delta.new_element.html.body:
                    texts.append(_text(fm))
                el = fm.delta.new_element
                if fm.delta.WhichOneof("type") == "new_element" and el.WhichOneof("type") == "download_button":
                    urls.append(el.download_button.url or el.download_button.deferred_file_id)
            if kind == "script_finished" and fm.script_finished in (
                    ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
                break
        if during is not None:
            return await asyncio.to_thread(during, sid)
    return sid, "\n".join(texts), urls


async def ws_download(port, cookie, page="", before=None, button=0):
    """Open ``page`` with the login cookie and press its ``button``-th download as the frontend
    does (a deferred-file request over the WebSocket), after ``before()`` if given; returns
    (url, error) from the server's answer: the /media url of the file made now, or why not."""
    import itertools

    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    ids, sid = [], None
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                  additional_headers={"Cookie": cookie}, max_size=None, open_timeout=120,
                                  ping_timeout=None) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_name = page
        await ws.send(msg.SerializeToString())
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(ws.recv(), 120))
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                sid = fm.new_session.initialize.session_id
            el = fm.delta.new_element
            if kind == "delta" and el.WhichOneof("type") == "download_button":
                assert not el.download_button.url, "made with the page, not at the click"
                ids.append(el.download_button.deferred_file_id)
            if kind == "script_finished" and fm.script_finished in (
                    ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
                break
        if before is not None:
            await asyncio.to_thread(before)
        req = BackMsg()
        req.backend_operation_request.request_id = "click-1"
        req.backend_operation_request.session_id = sid
        req.backend_operation_request.deferred_file.file_id = ids[button]
        await ws.send(req.SerializeToString())
        for _ in itertools.count():
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(ws.recv(), 120))
            if fm.WhichOneof("type") == "backend_operation_response":
                r = fm.backend_operation_response
                return r.deferred_file.url, r.error_msg


def ws(*args, **kwargs):
    """ws_run from a plain thread (Playwright's sync API keeps an event loop in this one)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(ws_run(*args, **kwargs))).result()


def http_get(port, path, cookie=""):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def rss_mb(pid) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def xsrf(port) -> str:
    """A valid Streamlit XSRF cookie, as any visitor gets one from /_stcore/health."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/_stcore/health")
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.getheader("Set-Cookie").split(";", 1)[0].split("=", 1)[1]


def put_upload(port, session_id, size, cookie=""):
    """PUT ``size`` bytes as a multipart file, the way the frontend's uploader does (with a
    valid XSRF cookie and header, so only the login decides); (status, body)."""
    boundary = "----dashboardtest"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.putrequest("PUT", f"/_stcore/upload_file/{session_id}/f{time.monotonic_ns()}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    jar = dict(p.split("=", 1) for p in cookie.split("; ") if "=" in p)
    jar.setdefault("_streamlit_xsrf", xsrf(port))
    conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in jar.items()))
    conn.putheader("X-Xsrftoken", jar["_streamlit_xsrf"])
    conn.endheaders()
    chunk = b"a," * (1 << 19)
    try:
        conn.send(head)
        sent = 0
        while sent < size:
            part = chunk[:size - sent]
            conn.send(part)
            sent += len(part)
        conn.send(tail)
    except OSError:
        pass                           # the server answered and closed before the body was in
    try:
        r = conn.getresponse()
        status = (r.status, r.read())
    except (OSError, http.client.HTTPException):
        status = (None, b"")
    conn.close()
    return status


# ---------------------------------------------------------------- finding 4: anonymous uploads

def test_anonymous_uploads_are_refused_and_memory_does_not_grow(server):
    port = server.port
    ws(port)                          # the app's imports and caches are in before measuring
    before = rss_mb(server.proc.pid)
    statuses = [st for _ in range(3) for st in
                ws(port, during=lambda sid: [put_upload(port, sid, 45 * 2**20) for _ in range(4)])]
    time.sleep(1)
    after = rss_mb(server.proc.pid)
    assert statuses == [(403, b"login required")] * 12
    # 12 × 45 MB = 540 MB would stay in the upload manager's memory without the gate
    assert after - before < 60, (before, after)
    print(f"RSS {before:.0f} → {after:.0f} MB")


def test_only_a_logged_in_clerk_or_admin_may_upload_within_the_size_limit(server, browser_page):
    browser_login(browser_page, server.url, "wen")
    clerk = cookie_header(browser_page.context)
    def uploads(sid):
        return put_upload(server.port, sid, 1000, clerk)[0], put_upload(server.port, sid, 51 * 2**20, clerk)[0]
    # .streamlit/config.toml allows 50 MB
    assert ws(server.port, clerk, during=uploads) == (204, 413)
    browser_page.get_by_role("button", name="退出登录").click()
    browser_page.wait_for_selector("text=已退出登录", timeout=60_000)
    # the cookie died with logout
    assert ws(server.port, clerk, during=lambda sid: put_upload(server.port, sid, 1000, clerk)) \
        == (403, b"login required")


def test_a_leader_may_not_upload(server, browser_page):
    browser_login(browser_page, server.url, "boss")
    leader = cookie_header(browser_page.context)
    assert ws(server.port, leader, during=lambda sid: put_upload(server.port, sid, 1000, leader)) \
        == (403, b"login required")


# ---------------------------------------------------------------- finding 6: a session id is no login

def test_the_login_cookie_is_httponly_and_strict(server, browser_page):
    browser_login(browser_page, server.url, "root")
    login = [c for c in browser_page.context.cookies() if c["name"] == "dashboard_login"]
    assert len(login) == 1 and login[0]["httpOnly"] and login[0]["sameSite"] == "Strict"
    assert not login[0]["secure"]                     # plain http here; Secure behind HTTPS
    assert browser_page.evaluate("document.cookie").find("dashboard_login") == -1


def test_another_clients_session_id_without_the_cookie_gets_the_login_page(server, browser_page):
    browser_login(browser_page, server.url, "root")
    admin = cookie_header(browser_page.context)
    sid, text, _ = ws(server.port, admin)
    assert "退出登录" in text and "用户名" not in text
    # while the admin's session is connected elsewhere, and after: the id alone gets nothing
    other_sid, text, _ = ws(server.port, "_streamlit_xsrf=other", session_id=sid)
    assert "用户名" in text and "退出登录" not in text and "root" not in text
    assert other_sid != sid
    # the same browser (same cookie) may still resume its own session
    again, text, _ = ws(server.port, admin, session_id=sid)
    assert "退出登录" in text


def test_a_reload_keeps_the_login_and_logout_ends_every_tab(server, browser_page):
    browser_login(browser_page, server.url, "boss")
    tab2 = browser_page.context.new_page()
    tab2.goto(server.url)
    tab2.wait_for_selector("text=退出登录", timeout=90_000)       # the second tab is logged in too
    browser_page.reload()
    browser_page.wait_for_selector("text=退出登录", timeout=90_000)
    browser_page.get_by_role("button", name="退出登录").click()
    browser_page.wait_for_selector("text=已退出登录", timeout=60_000)
    # the other tab's next click (any rerun) shows the login page
    tab2.get_by_role("button", name="退出登录").wait_for(timeout=10_000)
    tab2.get_by_text("English", exact=True).click()                  # the language switch: a rerun
    tab2.wait_for_selector("text=Password", timeout=60_000)
    assert tab2.get_by_role("button", name="Log out").count() == 0
    with server.engine.connect() as c:
        assert [r["action"] for r in auth.audit_rows(c, {"username": "boss"})][:2] == ["logout", "login"]


# ---------------------------------------------------------------- finding 7: downloads and media

def click_download(*args, **kwargs):
    """ws_download from a plain thread (Playwright's sync API keeps an event loop in this one)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(ws_download(*args, **kwargs))).result()


def test_media_need_a_live_login(server, browser_page):
    browser_login(browser_page, server.url, "boss")
    leader = cookie_header(browser_page.context)
    url, error = click_download(server.port, leader)
    assert url and not error, error
    status, body = http_get(server.port, url, leader)
    assert status == 200 and "红旗村" in body.decode("utf-8-sig")
    assert http_get(server.port, url)[0] == 403                           # no cookie
    assert http_get(server.port, url, "_streamlit_xsrf=x")[0] == 403
    # a disabled account's next download gets nothing
    auth.manage(server.engine, "root", "user_disable", auth.set_disabled, "boss", True)
    status, body = http_get(server.port, url, leader)
    assert status == 403 and "红旗村".encode() not in body


def test_a_download_is_made_at_the_click_for_a_login_valid_then(server, browser_page):
    """The page is drawn, then the account is disabled: the click gets no file at all (before,
    the bytes were made with the page and handed out at the click)."""
    browser_login(browser_page, server.url, "boss")
    leader = cookie_header(browser_page.context)

    def disable():
        auth.manage(server.engine, "root", "user_disable", auth.set_disabled, "boss", True)
    url, error = click_download(server.port, leader, before=disable)
    assert url == "" and error == "Failed to generate file for download"


def test_in_the_browser_a_disabled_accounts_click_downloads_nothing(server, browser_page):
    page = browser_page
    browser_login(page, server.url, "boss")
    button = page.locator(".st-key-dl_overview button")
    button.wait_for(timeout=90_000)
    with page.expect_download(timeout=60_000) as dl:
        button.click()
    assert "红旗村" in Path(dl.value.path()).read_bytes().decode("utf-8-sig")
    auth.manage(server.engine, "root", "user_disable", auth.set_disabled, "boss", True)
    got = []
    page.on("download", lambda d: got.append(d))
    button.click()
    page.wait_for_timeout(8_000)
    assert got == []


def test_media_stop_after_logout(server, browser_page):
    browser_login(browser_page, server.url, "boss")
    leader = cookie_header(browser_page.context)
    url, _ = click_download(server.port, leader)
    urls = [url]
    assert http_get(server.port, urls[0], leader)[0] == 200
    browser_page.get_by_role("button", name="退出登录").click()
    browser_page.wait_for_selector("text=已退出登录", timeout=60_000)
    assert http_get(server.port, urls[0], leader)[0] == 403


# ---------------------------------------------------------------- the page icon before login

def test_the_login_pages_icon_is_a_static_file_anyone_may_fetch(server, browser_page):
    """The icon was an image file given to st.set_page_config, served from /media, which is
    closed to visitors without a login: the login page showed a broken icon (a 403, logged)."""
    page = browser_page
    answers = []
    page.on("response", lambda r: answers.append((r.url, r.status)))
    page.goto(server.url)
    page.get_by_label("用户名").wait_for(timeout=90_000)
    page.wait_for_function("document.querySelector('link[rel~=icon]')?.href.includes('favicon')",
                           timeout=30_000)
    href = page.evaluate("document.querySelector('link[rel~=icon]').href")
    assert href == server.url + "/app/static/favicon.png"
    status, body = http_get(server.port, "/app/static/favicon.png")
    assert status == 200 and body.startswith(b"\x89PNG\r\n\x1a\n")
    assert [a for a in answers if a[1] >= 400] == []
