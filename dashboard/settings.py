"""Every setting once: name, default, help text, validation.

Settings come from environment variables; the README's configuration table is
checked against this list by a test, so a setting cannot go undocumented.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"

# Business rules of the figures (constants, not environment settings: the pre-aggregated month
# layer stores exactly what a 30-day rule needs, see dashboard.rules.overdue_bound).
OVERDUE_DAYS = 30   # a dispute open for more than this many days at a date is overdue (超期)
REPLY_DAYS = 30     # a referred suggestion unanswered this many days after its referral is overdue
SMALL_N = 5         # a rate over fewer cases than this is marked and ranked after the others
ALERT_NAMES = 5     # an alert names at most this many villages; the full list is one click away
LIST_ON_SCREEN = 200  # a case list (督办, overdue replies) shows its oldest this many; the download holds all

# What intake refuses in a ledger row (loaders.validate) and the data-quality flags look for in rows
# stored before (dashboard.quality, rule ledger_logic).
EARLIEST_DATE = "1990-01-01"   # a ledger date before this is a typing error
MAX_HOURS_PER_PERSON = 24      # volunteer hours per participant in one activity
CHINA_LON = (73, 136)          # coordinates outside these bounds are not in China
CHINA_LAT = (3, 54)

# Data-quality flags (数据质量, dashboard.quality): the thresholds every rule's text shows.
QUALITY_Z = 3.5                # spike: |robust z| above this (Iglewicz & Hoaglin's outlier bound)
QUALITY_MIN_HISTORY = 12       # spike: months of the village's own history before a month is judged
# spike: not judged on suggestions: a visit collects them in batches (one forum brings a dozen),
# so their monthly jumps are the visits', and the visits ledger is judged
QUALITY_SPIKE_EXCLUDE = ("suggestions",)
QUALITY_MIN_JUMP = 10          # spike: and at least this many rows away from the history's median
QUALITY_SAME_DAY_MIN = 5       # same_day: cases reported in a village-month, all resolved on one date
QUALITY_REST_SHARE = 0.6       # rest_days: share of resolutions on weekends/statutory holidays above this
QUALITY_REST_MIN = 20          # rest_days: over at least this many resolutions in the period
QUALITY_SILENT_MONTHS = 2      # silent: full months without a row of a kind (nor a zero report)
QUALITY_SILENT_MIN_MONTHLY = 3  # silent: after a year averaging at least this many rows a month
QUALITY_GRID_MIN_AVG = 8       # grid_no_dispute: grid never had one while its village averages this many per grid


def _bool(v: str) -> bool:
    if v.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if v.strip().lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {v!r}")


def _float(v: str) -> float:
    return float(v)


def _day_of_month(v: str) -> int:
    n = int(v)
    if not 1 <= n <= 28:
        raise ValueError(f"a day of the month from 1 to 28: {v!r}")
    return n


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], object] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", f"sqlite:///{DATA_DIR / 'dashboard.db'}",
            "SQLAlchemy URL of the database. Default (also when set but empty): a SQLite file under data/. "
            "For PostgreSQL write postgresql+psycopg://user:pass@host/db. The app never creates a SQLite "
            "file: a path that does not exist is an error page (migrate and demo create it)."),
    Setting("DASHBOARD_LANG", "zh", "Default UI language: zh or en.",
            lambda v: v if v in {"zh", "en"} else (_ for _ in ()).throw(ValueError(v))),
    Setting("DASHBOARD_TARGET_RATE", "0.9",
            "Target dispute resolution rate (fraction) drawn as a line and used for alerts.", _float),
    Setting("DASHBOARD_TILE_URL", "",
            "Optional intranet tile server URL template ({z}/{x}/{y}). Empty: no basemap."),
    Setting("DASHBOARD_TILE_CRS", "wgs84",
            "Coordinate system of the tiles: wgs84 (Tianditu) or gcj02 (Amap/Tencent)."),
    Setting("DASHBOARD_AUTH", "auto",
            "Login required: on, off, or auto (off for the demo database only)."),
    Setting("DASHBOARD_SESSION_MINUTES", "480", "Minutes before a login session expires.", int),
    Setting("DASHBOARD_CHROMIUM", "/usr/bin/chromium",
            "Path of the Chromium used to render map images for PPTX/PDF exports."),
    Setting("DASHBOARD_FONT_DIRS", "/usr/share/fonts:/usr/local/share/fonts:~/.local/share/fonts",
            "Folders (separated by :) searched for the fonts embedded in PDF exports; "
            "faces are chosen by the characters they draw (Noto Sans CJK preferred)."),
    Setting("DASHBOARD_POSTGIS", "auto",
            "PostgreSQL only, read by the migrations: auto uses PostGIS when the server has it "
            "(spatial index on boundaries), off never does."),
    Setting("DASHBOARD_TARGETS", str(ROOT / "dashboard" / "targets.toml"),
            "TOML file with the targets of registry figures and their amber bands (traffic lights)."),
    Setting("DASHBOARD_WEIGHTS", str(ROOT / "dashboard" / "index_weights.toml"),
            "TOML file with the weights of the village governance index."),
    Setting("DASHBOARD_REPORT_DAY", "5",
            "Monthly reporting deadline (报送截止日): a month's ledgers or zero reports are due by "
            "this day (1-28) of the next month; the batch that first covers a month after it is late.",
            _day_of_month),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str):
    s = _BY_NAME[name]
    raw = os.environ.get(name, s.default)
    return s.parse(raw)


def database_url() -> str:
    # DATABASE_URL= (empty, as an env file leaves it) means the default, not the URL ""
    return get("DATABASE_URL").strip() or _BY_NAME["DATABASE_URL"].default


def target_specs() -> dict[str, dict]:
    """The targets file's tables ``{figure key: {"target": …, "amber": …}}`` (DASHBOARD_TARGETS);
    resolution_rate always has one, its target DASHBOARD_TARGET_RATE unless the file names one.
    The one source of every target (dashboard.targets adds the registry's directions)."""
    return _target_specs(str(get("DASHBOARD_TARGETS")), float(get("DASHBOARD_TARGET_RATE")))


@lru_cache(maxsize=8)
def _target_specs(path: str, rate: float) -> dict[str, dict]:
    p = Path(path)
    raw = tomllib.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    out = {k: dict(v) for k, v in raw.items()}
    out.setdefault("resolution_rate", {}).setdefault("target", rate)
    return out


# ---------------------------------------------------------------- slides (not environment settings)
# The smallest text on a slide, in pixels of a 1080-pixel-high screen: readable from the back of a
# meeting room. Everything on a slide scales with the screen's height, so on a 768-pixel laptop the
# same text is 768/1080 of this; in PowerPoint (7.5 in = 540 pt high) it is half this in points.
SLIDE_MIN_FONT_PX = 20
SLIDE_HEIGHT_PX = 1080
# Most table rows on one slide (at the smallest text size); a longer ranking is split evenly...
SLIDE_TABLE_ROWS = 22
# ...up to this many slides; beyond it (a county's 500 villages) the slides show the top and the
# bottom SLIDE_SPLIT_ROWS villages, the bottom ones worst first.
SLIDE_TABLE_PAGES = 2
SLIDE_SPLIT_ROWS = 10
