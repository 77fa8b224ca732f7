"""The rules the codebase lives by, checked so they cannot quietly erode."""
import ast
import re
from pathlib import Path

import pytest

from dashboard import i18n, settings

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def _py(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def test_core_never_imports_streamlit():
    bad = [str(p.relative_to(ROOT)) for folder in ("dashboard", "loaders") for p in _py(folder)
           if not p.relative_to(ROOT).as_posix().startswith("dashboard/ui/")
           and any(m == "streamlit" or m.startswith("streamlit.") or m.startswith("streamlit_")
                   for m in _imports(p))]
    assert bad == []


def test_loaders_never_use_ui():
    bad = [str(p) for p in _py("loaders") if any(m.startswith("dashboard.ui") for m in _imports(p))]
    assert bad == []


def test_pages_are_thin_and_hold_no_sql():
    for p in _py("pages"):
        text = p.read_text(encoding="utf-8")
        assert len(text.splitlines()) <= 120, f"{p.name} is too long: move logic into dashboard/"
        assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\s", text), f"SQL in {p.name}"
        assert not any(m in ("sqlalchemy", "dashboard.db") or m.startswith("dashboard.db.")
                       for m in _imports(p)), f"{p.name} talks to the database directly"


def test_pages_have_no_literal_chinese():
    """UI strings live in the catalogue, so the English switch covers every page."""
    han = re.compile(r"[\u4e00-\u9fff]")
    for p in _py("pages") + [ROOT / "app.py"]:
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and han.search(node.value):
                if p.read_text(encoding="utf-8").startswith(f'"""{node.value}'):
                    continue  # the module docstring
                pytest.fail(f"literal Chinese text in {p.name}: {node.value!r}")


def test_catalogues_have_the_same_keys():
    zh, en = set(i18n.catalogue("zh")), set(i18n.catalogue("en"))
    assert zh - en == set(), "keys missing in English"
    assert en - zh == set(), "keys missing in Chinese"


def test_catalogue_placeholders_match():
    fmt = re.compile(r"\{(\w+)")
    for key, text in i18n.catalogue("zh").items():
        assert set(fmt.findall(text)) == set(fmt.findall(i18n.catalogue("en")[key])), key


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for s in settings.SETTINGS:
        assert f"`{s.name}`" in readme, f"{s.name} is not in the README's configuration table"


def test_no_internet_asset_in_app_code():
    pat = re.compile(r"https?://(cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|code\.jquery\.com|"
                     r"fonts\.googleapis\.com|[a-z]\.tile\.openstreetmap\.org)")
    for folder in ("dashboard", "pages", "loaders"):
        for p in _py(folder):
            assert not pat.search(p.read_text(encoding="utf-8")), f"CDN URL in {p}"


def test_requirements_are_pinned_exactly():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line), f"{name}: {line}"


def test_telemetry_off():
    cfg = (ROOT / ".streamlit" / "config.toml").read_text()
    assert re.search(r"gatherUsageStats\s*=\s*false", cfg)


# ---------------------------------------------------------------- one definition (issue 12)

def _dashboard_imports(rel: str) -> set[str]:
    """Every dashboard module a file imports, at any depth (function-level imports too)."""
    path = ROOT / rel
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("dashboard")}


# The layers of a figure, lowest first: each imports only from those before it.
FIGURE_LAYERS = ("dashboard/settings.py", "dashboard/db/dialect.py", "dashboard/rules.py",
                 "dashboard/aggregates.py", "dashboard/metrics.py")


def _module(rel: str) -> str:
    return rel[:-3].replace("/", ".")


def test_figure_layers_import_one_way():
    """The base-sum layer (aggregates) never imports the registry (metrics), nor the rules
    either of them: no cycle, one direction."""
    for i, rel in enumerate(FIGURE_LAYERS):
        above = {_module(r) for r in FIGURE_LAYERS[i + 1:]}
        bad = _dashboard_imports(rel) & above
        assert bad == set(), f"{rel} imports {bad}, a layer above it"


def test_base_sums_are_the_registry_plain_figures():
    """A new base sum is a registry line plus its SQL in the aggregate layer, nothing else."""
    from dashboard import aggregates, metrics
    assert set(metrics.BASE_KEYS) == set(aggregates.BASE_SUMS)
    assert set(metrics.STATIC_KEYS) == set(aggregates.STATIC_FACTS)
    assert set(aggregates.SUMS) == {k for sums in aggregates.MONTH_SUMS.values() for k in sums}


def test_no_positional_sum_columns():
    """Base sums travel under their names, never as a1 … a14."""
    for folder in ("dashboard", "loaders"):
        for p in _py(folder):
            assert not re.search(r"\bAS a\d+\b|\ba\d{1,2}\b\s*,\s*\ba\d{1,2}\b", p.read_text(encoding="utf-8")), p


def test_a_new_ratio_is_one_registry_line(monkeypatch):
    """derive() reads numerator, denominator, per and minus from the registry: a figure added
    there is computed everywhere, with nothing coded per metric."""
    import numpy as np
    from dashboard import metrics
    extra = {"x_per_10_grids": metrics.Metric(
        "x_per_10_grids", "每十网格受理", "Received per 10 grids", "件", "cases", "ratio", "neutral",
        "disputes", "受理纠纷 ÷ 网格数 × 10。", "Received ÷ grids × 10.", "disputes_total", "grids", per=10),
        "x_gap": metrics.Metric("x_gap", "差", "Gap", "件", "cases", "count", "neutral", "disputes",
                                "差。", "Gap.", minus=("disputes_total", "backlog_open"))}
    monkeypatch.setattr(metrics, "METRICS", {**metrics.METRICS, **extra})
    base = {k: np.array([4.0, 0.0]) for k in metrics.BASE_KEYS}
    base.update(grids=np.array([8.0, 0.0]), backlog_open=np.array([1.0, 0.0]))
    got = metrics.derive(base, np.array([np.nan, np.nan]))
    assert got["x_per_10_grids"][0] == 5.0 and np.isnan(got["x_per_10_grids"][1])
    assert got["x_gap"].tolist() == [3.0, 0.0]
