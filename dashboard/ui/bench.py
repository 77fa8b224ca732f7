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


def pages(url, label, out, notes):
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
        at.session_state["user"] = ADMIN
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


async def ws_session(port: int, page: str = "") -> tuple[float, int]:
    """One browser-less session: what the Streamlit frontend does on opening a page.

    Connects the app's WebSocket, asks for a script run of ``page`` ("" = the default,
    the overview) and waits for the run to finish; returns (seconds, exceptions shown).
    """
    import time
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    t0 = time.perf_counter()
    exceptions = 0
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
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
