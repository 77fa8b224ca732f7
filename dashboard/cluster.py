"""Several ``streamlit run serve.py`` processes behind nginx configured by the deployment recipe
(deploy/nginx/dashboard.conf), on loopback ports: the way a county runs the dashboard, for the
benchmark's sessions step and for tests of what only the proxy does (sticky routing).

The recipe is used as it ships; only what names this machine is replaced: the upstream's
servers (the processes started here), ``listen 80`` (a free loopback port), the access log's
path. A browser keeps its process by the ``dashboard_route`` cookie nginx sets on the first
response; :func:`route_cookie` fetches it the way a browser's first page load does.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.settings import ROOT

RECIPE = ROOT / "deploy" / "nginx" / "dashboard.conf"
ROUTE_COOKIE = "dashboard_route"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def render_conf(ports: list[int], listen: int, workdir: Path) -> str:
    """A complete nginx.conf running the recipe's http-level text for ``ports`` on ``listen``."""
    recipe = RECIPE.read_text(encoding="utf-8")
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in ports)
    body, n = re.subn(r"upstream dashboard \{[^}]*\}",
                      lambda _m: "upstream dashboard {\n    hash $dashboard_route consistent;\n"
                                 f"{servers}    keepalive 32;\n}}", recipe)
    if n != 1 or "listen 80;" not in body:
        raise RuntimeError(f"{RECIPE}: no single upstream block or listen 80 to replace")
    body = body.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    body = body.replace("/var/log/nginx/dashboard.access.log", str(workdir / "access.log"))
    tmp = workdir / "tmp"
    temps = "".join(f"    {k}_temp_path {tmp / k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
    return (f"{user}worker_processes 1;\ndaemon off;\npid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'error.log'} warn;\nevents {{ worker_connections 4096; }}\n"
            f"http {{\n{temps}{body}\n}}\n")


@dataclass
class Cluster:
    """``processes`` app processes (with their ports) and the nginx in front (``port``)."""
    port: int
    app_ports: list[int]
    processes: list = field(default_factory=list)
    nginx: subprocess.Popen | None = None

    def stop(self) -> None:
        for p in ([self.nginx] if self.nginx else []) + self.processes:
            p.terminate()
        for p in ([self.nginx] if self.nginx else []) + self.processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def start(url: str, n: int, workdir: Path, start_app, healthy, free_port, auth: str = "off") -> Cluster:
    """Start ``n`` ``serve.py`` processes (``start_app(url, script, auth) -> (proc, port)``) and
    nginx in front of them; wait until each answers its health check through its own port and
    nginx answers on its. Raises RuntimeError (everything started is stopped) otherwise."""
    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
    workdir.mkdir(parents=True, exist_ok=True)
    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / "tmp" / k).mkdir(parents=True, exist_ok=True)
    cluster = Cluster(port=free_port(), app_ports=[])
    try:
        for _ in range(n):
            proc, port = start_app(url, "serve.py", auth)
            cluster.processes.append(proc)
            cluster.app_ports.append(port)
        for port in cluster.app_ports:
            if not healthy(port):
                raise RuntimeError(f"streamlit on port {port} did not answer /_stcore/health")
        conf = workdir / "nginx.conf"
        conf.write_text(render_conf(cluster.app_ports, cluster.port, workdir), encoding="utf-8")
        check = subprocess.run([nginx, "-t", "-c", str(conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t: {check.stderr.strip()[-500:]}")
        cluster.nginx = subprocess.Popen([nginx, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        if not healthy(cluster.port):
            raise RuntimeError("nginx did not answer /_stcore/health")
        return cluster
    except BaseException:
        cluster.stop()
        raise


def route_cookie(port: int) -> str:
    """``dashboard_route=…``: what nginx hands a browser on its first page load (the key that
    keeps it on one process)."""
    import http.client
    for _ in range(50):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", "/_stcore/health")
            r = conn.getresponse()
            r.read()
            for k, v in r.getheaders():
                if k.lower() == "set-cookie" and v.startswith(ROUTE_COOKIE + "="):
                    return v.split(";", 1)[0]
            raise RuntimeError("nginx set no dashboard_route cookie")
        except ConnectionError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError("nginx did not answer")


def served_by(workdir: Path) -> dict[str, int]:
    """How many requests each app process answered (from the recipe's access log line
    ``upstream=127.0.0.1:PORT``)."""
    counts: dict[str, int] = {}
    log = workdir / "access.log"
    if log.exists():
        for m in re.finditer(r"upstream=(\S+)", log.read_text(encoding="utf-8", errors="replace")):
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts
