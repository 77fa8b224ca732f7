"""The server asks nothing of the outside world: no request leaves the machine at start-up or on a page load.

The server runs with a ``sitecustomize`` that blocks and records, at the Python level, every
name look-up of a host that is not loopback and every connect/sendto to an address that is
not (what requests, urllib, Streamlit's checkip look-up and its 8.8.8.8 UDP probe all go
through). Where this runs as root with ``unshare`` (CI does), a second test starts the server in
a network namespace holding only ``lo``, so the kernel blocks whatever the recorder might miss.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port

RECORDER = textwrap.dedent('''
    """Blocks and records network use beyond loopback (tests/test_phone_home.py)."""
    import ipaddress, json, os, socket, traceback

    _LOG = os.environ["NET_ATTEMPTS_LOG"]
    _LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}

    def _loopback(host):
        if host is None:
            return True
        if isinstance(host, bytes):
            host = host.decode()
        host = str(host).strip("[]")
        if host in _LOCAL_NAMES:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False            # a name: resolving it would ask a DNS server
        return ip.is_loopback or ip.is_unspecified

    def _record(kind, target):
        with open(_LOG, "a") as f:
            f.write(json.dumps({"kind": kind, "target": repr(target),
                                "stack": traceback.format_stack(limit=8)}) + "\\n")
        raise OSError(101, "blocked by tests/test_phone_home.py: " + repr(target))

    def _host_of(address):
        return address[0] if isinstance(address, tuple) and address else None

    _getaddrinfo = socket.getaddrinfo
    def getaddrinfo(host, *a, **kw):
        if not _loopback(host):
            _record("getaddrinfo", host)
        return _getaddrinfo(host, *a, **kw)
    socket.getaddrinfo = getaddrinfo

    _gethostbyname = socket.gethostbyname
    def gethostbyname(host):
        if not _loopback(host):
            _record("gethostbyname", host)
        return _gethostbyname(host)
    socket.gethostbyname = gethostbyname

    class _Socket(socket.socket):
        def connect(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(_host_of(address)):
                _record("connect", address)
            return super().connect(address)

        def connect_ex(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(_host_of(address)):
                _record("connect_ex", address)
            return super().connect_ex(address)

        def sendto(self, data, *args):
            address = args[-1]
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(_host_of(address)):
                _record("sendto", address)
            return super().sendto(data, *args)
    socket.socket = _Socket
''')


def _recorder_env(tmp_path: Path, db_url: str) -> tuple[dict, Path]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(RECORDER)
    log = tmp_path / "attempts.jsonl"
    log.touch()
    env = {**os.environ, "DATABASE_URL": db_url, "DASHBOARD_AUTH": "off",
           "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "NET_ATTEMPTS_LOG": str(log)}
    # only the project's .streamlit/config.toml speaks: no proxy, no user config
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    env["HOME"] = str(tmp_path)
    return env, log


def _attempts(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _command(port: int) -> list[str]:
    # exactly the options of a developer's `streamlit run app.py` (README); the shipped
    # .streamlit/config.toml supplies the rest
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
            "--server.fileWatcherType", "none"]


def _wait_healthy(url: str, proc) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("streamlit exited: " + proc.stdout.read().decode(errors="replace"))
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not start")


def _stop(proc) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace")


def test_recorder_sees_what_it_must(tmp_path):
    """The recorder is no placebo: Streamlit's own look-up, run without the shipped option, is caught."""
    env, log = _recorder_env(tmp_path, "sqlite://")
    code = "from streamlit import net_util; print(net_util.get_external_ip(), net_util.get_internal_ip())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["None", "127.0.0.1"], out.stderr
    targets = [a["target"] for a in _attempts(log)]
    assert "'checkip.amazonaws.com'" in targets and "('8.8.8.8', 1)" in targets, targets


def test_start_up_and_a_page_load_reach_nothing_outside(demo_url, tmp_path, browser_page):
    env, log = _recorder_env(tmp_path, demo_url)
    port = free_port()
    proc = subprocess.Popen(_command(port), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        page = browser_page
        page.goto(url + "/", wait_until="domcontentloaded")
        page.get_by_role("heading", name="总览").wait_for(timeout=90_000)
        page.get_by_text("化解率").first.wait_for(timeout=60_000)
        page.goto(url + "/map", wait_until="domcontentloaded")
        page.wait_for_timeout(3000)
        assert page.external_requests == [], page.external_requests
    finally:
        output = _stop(proc)
    attempts = _attempts(log)
    assert attempts == [], "\n".join(a["target"] + "\n" + "".join(a["stack"]) for a in attempts)
    assert "External URL" not in output and "Network URL" not in output, output
    assert "Did not auto detect external IP" not in output, output


def _netns_usable() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare(1) and ip(8) (util-linux, iproute2)"
    probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a network namespace here (root/CAP_SYS_ADMIN needed): {probe.stderr.strip()}"
    return None


def test_start_up_in_a_namespace_without_a_route_out(demo_url, tmp_path):
    """Kernel-level: only lo exists; the recorder must still have nothing to report."""
    reason = _netns_usable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    if demo_url.startswith("postgres"):
        pytest.skip("the namespace has its own loopback: PostgreSQL on the host's 127.0.0.1 is out of reach")
    env, log = _recorder_env(tmp_path, demo_url)
    port = free_port()
    script = (f"ip link set lo up && exec {' '.join(map(str, _command(port)))} & "
              f"pid=$!; for i in $(seq 1 300); do "
              f"{sys.executable} -c \"import urllib.request,sys; "
              f"r=urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2); "
              f"sys.stdout.write('GOT %d %d\\n' % (r.status, len(r.read())))\" 2>/dev/null && break; "
              f"sleep 0.3; done; kill $pid; wait $pid")
    out = subprocess.run(["unshare", "-n", "sh", "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=180)
    assert "GOT 200" in out.stdout, out.stdout + out.stderr
    assert "External URL" not in out.stdout and "Did not auto detect external IP" not in out.stdout + out.stderr
    attempts = _attempts(log)
    assert attempts == [], "\n".join(a["target"] + "\n" + "".join(a["stack"]) for a in attempts)
