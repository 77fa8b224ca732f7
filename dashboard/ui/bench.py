"""The Streamlit-aware half of ``python -m dashboard bench`` (the core never imports Streamlit).

``pages``: every page of the navigation through ``AppTest``, cold and warm.
``ws_session``: one browser-less session against a running ``streamlit run``.
"""
from __future__ import annotations

import os


def _r(x, nd=3):
    return None if x is None else round(float(x), nd)


def _log(msg):
    import sys
    import time
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


ADMIN = {"username": "bench", "role": "admin", "village_ids": None, "display_name": "bench"}


def township_admin(url) -> dict:
    """An administrator of the database's first township: what a township's staff see on the
    county server (every page scoped to their township)."""
    import sqlalchemy as sa
    from dashboard import auth
    from dashboard.db import schema as S
    from dashboard.db.engine import get_engine
    with get_engine(url, create=False).connect() as conn:
        tid = conn.execute(sa.select(sa.func.min(S.township.c.id))).scalar_one()
        return {**ADMIN, "username": "bench-township", **auth.place_scope(conn, [tid])}


def pages(url, label, out, notes, user=None):
    import time
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    from dashboard.db.engine import dispose_all
    from dashboard.ui import nav
    os.environ["DATABASE_URL"] = url
    os.environ["DASHBOARD_AUTH"] = "off"
    cold, warm, errors = {}, {}, {}
    for slug, path, *_ in nav.available():
        st.cache_data.clear()
        st.cache_resource.clear()
        dispose_all()
        at = AppTest.from_file(str(nav.ROOT / path), default_timeout=300)
        at.session_state["user"] = user or ADMIN
        at.session_state["lang"] = "zh"
        t0 = time.perf_counter()
        at.run()
        cold[slug] = _r(time.perf_counter() - t0)
        t0 = time.perf_counter()
        at.run()
        warm[slug] = _r(time.perf_counter() - t0)
        if at.exception:
            errors[slug] = [str(e.value)[:200] for e in at.exception]
        _log(f"pages {label}: {slug} cold {cold[slug]} s, warm {warm[slug]} s")
    out[f"pages_{label}_cold_s"] = cold
    out[f"pages_{label}_warm_s"] = warm
    if errors:
        out[f"pages_{label}_errors"] = errors
        notes.append(f"pages {label}: exceptions in {sorted(errors)}")
    return max(cold.values(), default=None), max(warm.values(), default=None)


async def ws_session(port: int, page: str = "", cookie: str | None = None) -> tuple[float, int]:
    """One browser-less session: what the Streamlit frontend does on opening a page.

    Connects the app's WebSocket (with ``cookie``: e.g. the proxy's route), asks for a script
    run of ``page`` ("" = the default, the overview) and waits for the run to finish; returns
    (seconds, exceptions shown).
    """
    import time
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    t0 = time.perf_counter()
    exceptions = 0
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                  additional_headers={"Cookie": cookie} if cookie else None,
                                  max_size=None, open_timeout=300, ping_timeout=None) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_name = page
        await ws.send(msg.SerializeToString())
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await ws.recv())
            kind = fm.WhichOneof("type")
            if kind == "delta" and fm.delta.WhichOneof("type") == "new_element" \
                    and fm.delta.new_element.WhichOneof("type") == "exception":
                exceptions += 1
            if kind == "script_finished" and fm.script_finished in (
                    ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
                break
    return time.perf_counter() - t0, exceptions


async def _run_page(ws, page: str = "", widgets=()) -> tuple[list, int]:
    """Ask for a script run (with widget states) and collect its elements until it finishes."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    msg = BackMsg()
    msg.rerun_script.query_string = ""
    msg.rerun_script.page_name = page
    for w in widgets:
        msg.rerun_script.widget_states.widgets.append(w)
    await ws.send(msg.SerializeToString())
    elements, exceptions = [], 0
    while True:
        fm = ForwardMsg()
        fm.ParseFromString(await ws.recv())
        kind = fm.WhichOneof("type")
        if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
            el = fm.delta.new_element
            elements.append(el)
            exceptions += el.WhichOneof("type") == "exception"
        if kind == "script_finished" and fm.script_finished in (
                ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
            return elements, exceptions


def _claim(port: int, ticket: str, xsrf: str) -> str:
    """What the login page's script does: trade the ticket for the login cookie."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/account/claim", body=ticket.encode(),
                 headers={"Origin": f"http://127.0.0.1:{port}", "Host": f"127.0.0.1:{port}",
                          "Cookie": f"_streamlit_xsrf={xsrf}"})
    r = conn.getresponse()
    r.read()
    conn.close()
    if r.status != 204:
        raise RuntimeError(f"claim refused: {r.status}")
    return r.getheader("Set-Cookie").split(";", 1)[0]


async def ws_login_session(port: int, username: str, password: str, repeats: int = 3,
                           before_repeats=None):
    """One browser-less user: the login form over the WebSocket, the ticket traded for the
    cookie over HTTP, a new WebSocket with the cookie (what the page's reload does), the
    overview, then ``repeats`` more views of it (reruns, as a click does). ``before_repeats``:
    an async callable awaited between the first page and the repeat views (the bench makes
    every user wait there until all have logged in, so the two phases can be timed apart).

    Returns (seconds login + first page, [seconds per repeat view], exceptions shown).
    """
    import asyncio
    import re
    import secrets
    import time
    import websockets
    from streamlit.proto.WidgetStates_pb2 import WidgetState
    xsrf = secrets.token_hex(16)            # any value: the ticket is bound to it
    jar = f"_streamlit_xsrf={xsrf}"
    opts = dict(subprotocols=["streamlit"], max_size=None, open_timeout=600, ping_timeout=None)
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    t0 = time.perf_counter()
    async with websockets.connect(url, additional_headers={"Cookie": jar}, **opts) as ws:
        elements, exc = await _run_page(ws)
        inputs = [e.text_input.id for e in elements if e.WhichOneof("type") == "text_input"]
        submit = next(e.button.id for e in elements if e.WhichOneof("type") == "button"
                      and e.button.is_form_submitter)
        states = []
        for wid, value in zip(inputs, (username, password)):
            states.append(WidgetState(id=wid, string_value=value))
        states.append(WidgetState(id=submit, trigger_value=True))
        elements, e2 = await _run_page(ws, widgets=states)
        exc += e2
    bodies = " ".join(e.html.body for e in elements if e.WhichOneof("type") == "html")
    found = re.search(r'body: "([\w-]+)"', bodies)
    if not found:
        raise RuntimeError(f"{username}: no login ticket (wrong password or throttled?)")
    cookie = await asyncio.to_thread(_claim, port, found.group(1), xsrf)
    async with websockets.connect(url, additional_headers={"Cookie": f"{jar}; {cookie}"}, **opts) as ws:
        elements, e3 = await _run_page(ws)
        first = time.perf_counter() - t0
        if any(e.WhichOneof("type") == "text_input" and e.text_input.type == e.text_input.PASSWORD
               for e in elements):
            raise RuntimeError(f"{username}: still on the login page after the cookie")
        if before_repeats is not None:
            await before_repeats()
        repeat = []
        for _ in range(repeats):
            t1 = time.perf_counter()
            _, e4 = await _run_page(ws)
            repeat.append(time.perf_counter() - t1)
            e3 += e4
    return first, repeat, exc + e3
