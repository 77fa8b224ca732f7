"""`python -m dashboard bench` runs end to end at a tiny scale and prints every figure.

A benchmark is a script that prints figures; nothing here asserts a time.
"""
from __future__ import annotations

import json
import subprocess
import sys

from dashboard.commands.bench import KEYS
from dashboard.settings import ROOT


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
                "ingest_vs_pyarrow"]
    assert [k for k in measured if out[k] is None] == [], out["notes"]
    assert out["metrics_reference_match"] is True
    assert out["map_county_render_s"] is None            # --no-browser
    assert out["server_exceptions"] == 0
    assert not any(k.endswith("_errors") for k in out), {k: v for k, v in out.items() if k.endswith("_errors")}
    assert set(out["floors"]) >= {"ingest_rows_per_s", "metrics_county_ms", "peak_rss_mb"}


def test_bench_human_output_lists_the_keys(tmp_path):
    cmd = [sys.executable, "-m", "dashboard", "bench", "--scale", "township", "--only", "metrics",
           "--workdir", str(tmp_path), "--repeat", "2"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    for k in KEYS:
        assert any(line.split()[0] == k for line in lines if line.strip()), k
    assert any("scale township" in line for line in lines)
