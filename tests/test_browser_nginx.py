"""The shipped nginx site in front of a real Streamlit, driven by Chromium.

The page carries X-Frame-Options and a Content-Security-Policy under which the overview, the map
and the meeting page still render with no CSP violation; /_stcore/metrics is not public; a
WebSocket from another site's origin is refused before it reaches Streamlit. Skips without nginx.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port

SITE = ROOT / "deploy" / "nginx" / "dashboard.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (apt-get install nginx-light)")


@pytest.fixture
def proxied(demo_url, streamlit_server, tmp_path):
    app = streamlit_server(demo_url, {"DASHBOARD_AUTH": "off"})
    port = free_port()
    conf = SITE.read_text(encoding="utf-8").replace("/var/log/nginx/", f"{tmp_path}/")
    conf = re.sub(r"(?m)^\s*server 127\.0\.0\.1:\d+ .*$", "", conf)
    conf = conf.replace("upstream dashboard {", f"upstream dashboard {{\n    server 127.0.0.1:{app.port};", 1)
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (tmp_path / "site.conf").write_text(conf, encoding="utf-8")
    t = tmp_path
    (t / "nginx.conf").write_text(
        f"daemon off; pid {t}/nginx.pid; error_log {t}/error.log; events {{}}\n"
        f"http {{ client_body_temp_path {t}/b; proxy_temp_path {t}/p; fastcgi_temp_path {t}/f; "
        f"uwsgi_temp_path {t}/u; scgi_temp_path {t}/s; include {t}/site.conf; }}\n", encoding="utf-8")
    proc = subprocess.Popen([NGINX, "-p", str(t), "-c", str(t / "nginx.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(proc.stdout.read().decode() + (t / "error.log").read_text())
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


def _status(url: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_headers_metrics_and_foreign_websockets(proxied):
    with urllib.request.urlopen(proxied + "/", timeout=10) as r:
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
        csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "img-src 'self' data: blob:" in csp and "connect-src 'self'" in csp
    assert _status(proxied + "/_stcore/metrics") == 404
    assert _status(proxied + "/_stcore/health") == 200
    ws = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert _status(proxied + "/_stcore/stream", {**ws, "Origin": "http://evil.example"}) == 403
    host = proxied.split("://", 1)[1]
    assert _status(proxied + "/_stcore/stream", {**ws, "Origin": f"http://{host}"}) != 403


def test_pages_render_under_the_csp(proxied, browser_page):
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(proxied + "/", wait_until="domcontentloaded")
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=90_000)
    page.locator(".js-plotly-plot:visible").first.wait_for(timeout=60_000)
    page.goto(proxied + "/map", wait_until="domcontentloaded")
    page.locator("iframe").first.wait_for(timeout=90_000)
    page.wait_for_timeout(4000)
    frame = page.frames[-1]
    assert frame.locator(".leaflet-container, svg, canvas").count() > 0 or len(page.frames) > 1
    page.goto(proxied + "/meeting", wait_until="domcontentloaded")
    page.get_by_text("会议汇报").first.wait_for(timeout=90_000)
    page.wait_for_timeout(3000)
    assert violations == [], violations
    assert page.external_requests == [], page.external_requests
