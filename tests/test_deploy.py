"""The county deployment files (deploy/) hang together: shell syntax, the nginx site (sticky
sessions on a cookie, WebSocket upgrade, upload size), and systemd units that point at files
and modules that exist. Cheap, no root; `nginx -t` on the site when nginx is installed.

The end-to-end run (install on Debian, nginx in front of several processes, backup and
restore, upgrade) is described in docs/DEPLOY.md and was done by hand; it needs root.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "dashboard.conf"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))
INSTALLED = "/opt/dashboard/current"


def _unit(name: str) -> dict[str, list[str]]:
    """key -> values of a systemd unit file (continuation lines joined)."""
    text = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
    text = re.sub(r"\\\n\s*", " ", text)
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def _location(conf: str, path: str) -> str:
    m = re.search(r"location\s+" + re.escape(path) + r"\s*\{(.*?)\n    \}", conf, re.S)
    assert m, f"no location {path}"
    return m.group(1)


def test_scripts_parse_with_sh_n_and_are_executable():
    assert {p.name for p in SCRIPTS} >= {"install-debian.sh", "backup.sh", "restore.sh", "upgrade.sh", "manage.sh"}
    for p in SCRIPTS:
        r = subprocess.run(["sh", "-n", str(p)], capture_output=True, text=True)
        assert r.returncode == 0, (p.name, r.stderr)
        assert p.read_text(encoding="utf-8").startswith("#!/bin/sh\n"), p.name
        assert p.stat().st_mode & 0o111, f"{p.name} is not executable (ExecStart runs backup.sh directly)"


def test_scripts_use_debians_python_not_the_one_on_roots_path():
    # a pyenv/conda python3 under /root gives a virtualenv the dashboard user cannot run
    for name in ("install-debian.sh", "upgrade.sh"):
        text = (DEPLOY / name).read_text(encoding="utf-8")
        assert "PYTHON=/usr/bin/python3" in text and '"$PYTHON" -m venv' in text, name
        assert not re.search(r"^\s*python3 -m venv", text, re.M), name


def test_scripts_do_not_assume_systemd_is_running():
    for name in ("install-debian.sh", "upgrade.sh"):
        text = (DEPLOY / name).read_text(encoding="utf-8")
        assert "have_systemd() { [ -d /run/systemd/system ]; }" in text, name
        lines = text.splitlines()
        guard = next(i for i, l in enumerate(lines) if re.match(r"\s*if !? ?have_systemd", l))
        calls = [i for i, l in enumerate(lines) if "systemctl " in l and not l.lstrip().startswith(("#", "echo"))]
        assert calls and min(calls) > guard, f"{name}: systemctl before the have_systemd test"


def test_nginx_site_is_sticky_on_a_cookie_and_upgrades_the_websocket():
    conf = SITE.read_text(encoding="utf-8")
    upstream = re.search(r"upstream dashboard \{(.*?)\}", conf, re.S).group(1)
    assert re.search(r"^\s*hash \$dashboard_route consistent;", upstream, re.M) or "ip_hash;" in upstream
    assert len(re.findall(r"^\s*server 127\.0\.0\.1:\d+", upstream, re.M)) >= 2
    # the hash key: the browser's cookie, or (first request) a fresh id that nginx hands out as that cookie
    assert re.search(r"map \$cookie_dashboard_route \$dashboard_route \{\s*\"\"\s+\$request_id;", conf)
    assert 'add_header Set-Cookie "dashboard_route=$dashboard_route;' in conf
    ws = _location(conf, "/_stcore/stream")
    assert "proxy_pass http://dashboard;" in ws
    assert "proxy_http_version 1.1;" in ws
    assert "proxy_set_header Upgrade $http_upgrade;" in ws
    assert "proxy_set_header Connection $connection_upgrade;" in ws
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;", conf)
    assert "proxy_pass http://dashboard;" in _location(conf, "/")


def test_upload_limits_agree():
    conf = SITE.read_text(encoding="utf-8")
    mb = int(re.search(r"client_max_body_size (\d+)m;", conf).group(1))
    exec_start = _unit("dashboard@.service")["ExecStart"][0]
    assert int(re.search(r"--server\.maxUploadSize (\d+)", exec_start).group(1)) == mb


def test_install_rewrites_exactly_the_upstream_servers():
    # the awk program of install-debian.sh, run on the site with 2 processes
    text = (DEPLOY / "install-debian.sh").read_text(encoding="utf-8")
    prog = re.search(r"awk -v ups=\"\$UPSTREAMS\" '(.*?)'", text, re.S).group(1)
    ups = "    server 127.0.0.1:9101 max_fails=3 fail_timeout=10s;\n" \
          "    server 127.0.0.1:9102 max_fails=3 fail_timeout=10s;\n"
    out = subprocess.run(["awk", "-v", f"ups={ups}", prog, str(SITE)], capture_output=True, text=True,
                         check=True).stdout
    upstream = re.search(r"upstream dashboard \{(.*?)\}", out, re.S).group(1)
    assert re.findall(r"server (127\.0\.0\.1:\d+)", upstream) == ["127.0.0.1:9101", "127.0.0.1:9102"]
    assert "keepalive" in upstream and "hash $dashboard_route consistent;" in upstream


def test_streamlit_unit_runs_this_apps_entry_point_as_the_dashboard_user():
    u = _unit("dashboard@.service")
    assert u["User"] == ["dashboard"] and u["WorkingDirectory"] == [INSTALLED]
    assert u["EnvironmentFile"] == ["/etc/dashboard/dashboard.env"]
    argv = u["ExecStart"][0].split()
    assert argv[0] == f"{INSTALLED}/.venv/bin/python"
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert importlib.util.find_spec("streamlit") is not None
    assert (ROOT / argv[4]).is_file(), argv[4]          # app.py, relative to WorkingDirectory
    assert "--server.port" in argv and argv[argv.index("--server.port") + 1] == "%i"
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"   # only nginx faces the network
    assert u["WantedBy"] == ["dashboard.target"] and (DEPLOY / "systemd" / "dashboard.target").is_file()


def test_backup_units_point_at_the_release_script_and_the_settings_install_writes():
    svc, timer = _unit("dashboard-backup.service"), _unit("dashboard-backup.timer")
    script = svc["ExecStart"][0]
    assert script.startswith(f"{INSTALLED}/")
    assert (ROOT / script.removeprefix(f"{INSTALLED}/")).is_file()
    assert svc["User"] == ["postgres"]
    install = (DEPLOY / "install-debian.sh").read_text(encoding="utf-8")
    for env in svc["EnvironmentFile"] + _unit("dashboard@.service")["EnvironmentFile"]:
        assert f"> {env} <<ENV" in install, env
    assert timer["OnCalendar"] and timer["WantedBy"] == ["timers.target"]
    assert 'systemctl enable dashboard.target dashboard-backup.timer' in install


def test_every_unit_and_script_the_installer_names_exists():
    install = (DEPLOY / "install-debian.sh").read_text(encoding="utf-8")
    for rel in set(re.findall(r"\$RELEASE/(deploy/[\w@./-]+)", install)):
        assert (ROOT / rel).exists(), rel


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                    reason="nginx not installed")
def test_nginx_accepts_the_site(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    site = tmp_path / "dashboard.conf"
    site.write_text(SITE.read_text(encoding="utf-8").replace("/var/log/nginx/", f"{tmp_path}/"),
                    encoding="utf-8")
    t = tmp_path
    (tmp_path / "nginx.conf").write_text(
        f"pid {t}/nginx.pid; error_log {t}/error.log; events {{}}\n"
        f"http {{ access_log off; client_body_temp_path {t}/b; proxy_temp_path {t}/p; "
        f"fastcgi_temp_path {t}/f; uwsgi_temp_path {t}/u; scgi_temp_path {t}/s; include {site}; }}\n",
        encoding="utf-8")
    r = subprocess.run([nginx, "-t", "-p", str(t), "-c", str(t / "nginx.conf")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
