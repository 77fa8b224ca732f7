"""`python -m dashboard bench` runs end to end at a tiny scale and prints every figure.

A benchmark is a script that prints figures; nothing here asserts a time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from dashboard.commands.bench import KEYS
from dashboard.db.engine import normalise_url
from dashboard.settings import ROOT

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def test_bench_tiny_prints_every_key(tmp_path):
    cmd = [sys.executable, "-m", "dashboard", "bench", "--scale", "tiny", "--json", "--no-browser",
           "--workdir", str(tmp_path), "--repeat", "2", "--sessions", "3"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for k in KEYS:
        assert k in out, k
    measured = ["metrics_township_ms", "metrics_county_ms", "metrics_county_vs_township",
                "metrics_duckdb_raw_ms", "metrics_pandas_raw_ms", "pages_warm_max_s", "pages_cold_max_s",
                "map_county_bytes", "peak_rss_mb", "sessions_20_p95_s", "ingest_rows_per_s",
                "ingest_vs_pyarrow", "ingest_with_refresh_rows_per_s", "ingest_vs_store_floor",
                "metrics_township_in_county_vs_alone"]
    assert [k for k in measured if out[k] is None] == [], out["notes"]
    assert out["metrics_reference_match"] is True
    assert out["map_county_render_s"] is None            # --no-browser
    assert out["server_exceptions"] == 0
    assert not any(k.endswith("_errors") for k in out), {k: v for k, v in out.items() if k.endswith("_errors")}
    assert set(out["floors"]) >= {"ingest_rows_per_s", "metrics_county_ms", "peak_rss_mb",
                                  "metrics_township_in_county_vs_alone", "ingest_vs_store_floor"}
    assert out["database"] == "sqlite"
    assert out["ingest_rows"] == 3000 and out["metrics_township_in_county_villages"] == 3
    assert out["ingest_with_refresh_rows_per_s"] <= out["ingest_rows_per_s"]
    # the sessions went the way a county runs: two processes behind the recipe's nginx, a
    # browser's route cookie spreading them over both
    from dashboard import cluster
    if cluster.nginx_binary() is None:
        assert out["sessions_processes"] == 1 and "nginx not installed" in " ".join(out["notes"])
    else:
        assert out["sessions_processes"] == 2 and out["sessions_proxy"] == "nginx"
        assert len(out["sessions_served_by"]) == 2 and min(out["sessions_served_by"].values()) > 0


def _pg_databases(prefix: str) -> list[str]:
    eng = sa.create_engine(normalise_url(PG_URL))
    try:
        with eng.connect() as c:
            return c.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                             {"p": prefix + "%"}).scalars().all()
    finally:
        eng.dispose()


@pytest.mark.skipif(not PG_URL.startswith("postgres"), reason="TEST_DATABASE_URL not set")
def test_bench_tiny_on_postgresql(tmp_path):
    """--db: the ingest and metrics steps on PostgreSQL print the same keys plus the new ones,
    the references agree with metrics.compute there too, and the bench's databases are dropped."""
    name = f"bench{os.getpid()}"
    url = normalise_url(PG_URL).rsplit("/", 1)[0] + "/" + name
    cmd = [sys.executable, "-m", "dashboard", "bench", "--scale", "tiny", "--json", "--no-browser",
           "--no-server", "--only", "ingest,metrics", "--workdir", str(tmp_path), "--repeat", "2",
           "--db", url]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for k in KEYS:
        assert k in out, k
    assert out["database"] == "postgresql"
    measured = ["ingest_rows_per_s", "ingest_with_refresh_rows_per_s", "ingest_vs_store_floor",
                "metrics_township_ms", "metrics_county_ms", "metrics_township_in_county_vs_alone",
                "metrics_pandas_raw_ms"]
    assert [k for k in measured if out[k] is None] == [], out["notes"]
    assert out["ingest_rows"] == 3000 and out["metrics_township_in_county_villages"] == 3
    assert out["metrics_reference_match"] is True
    assert "ingest_with_refresh_rows_per_s" in out["floors"] and "ingest_vs_store_floor" not in out["floors"]
    assert not any(k.endswith("_errors") for k in out)
    assert _pg_databases(name + "_") == []


def test_bench_human_output_lists_the_keys(tmp_path):
    cmd = [sys.executable, "-m", "dashboard", "bench", "--scale", "township", "--only", "metrics",
           "--workdir", str(tmp_path), "--repeat", "2"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    for k in KEYS:
        assert any(line.split()[0] == k for line in lines if line.strip()), k
    assert any("scale township" in line for line in lines)
