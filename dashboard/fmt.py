"""Numbers the Chinese way: percent with one decimal, thousands separators, — for undefined."""
from __future__ import annotations

import math

NONE = "—"


def is_none(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pct(v, digits: int = 1) -> str:
    return NONE if is_none(v) else f"{v * 100:.{digits}f}%"


def num(v, digits: int = 0) -> str:
    if is_none(v):
        return NONE
    if digits == 0:
        return f"{round(v):,}"
    return f"{v:,.{digits}f}"


def pp(v, digits: int = 1) -> str:
    """A change in percentage points, signed: +2.3 / −1.0."""
    if is_none(v):
        return NONE
    return f"{v * 100:+.{digits}f}".replace("-", "−")


def signed_pct(v, digits: int = 1) -> str:
    if is_none(v):
        return NONE
    return f"{v * 100:+.{digits}f}%".replace("-", "−")


def value(v, unit_kind: str) -> str:
    """Format a metric value by its kind (see dashboard.metrics.Metric.kind)."""
    if unit_kind == "rate":
        return pct(v)
    if unit_kind in ("days", "ratio", "hours"):
        return num(v, 1)
    return num(v)
