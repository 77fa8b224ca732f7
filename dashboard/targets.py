"""Targets and traffic lights: which figures have a target, and green/amber/red for a value.

The targets live in one file (DASHBOARD_TARGETS, default dashboard/targets.toml); the
resolution rate's target is the DASHBOARD_TARGET_RATE setting unless the file names one. The
direction comes from the metric registry. Cards, tables, the ranking and the map's
"against target" classes all ask here, so the thresholds are written once.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from dashboard import fmt, metrics, settings
from dashboard.i18n import t

LIGHTS = ("green", "amber", "red")
COLOURS = {"green": "#1a9850", "amber": "#fdae61", "red": "#d73027"}


@dataclass(frozen=True)
class Target:
    key: str
    target: float
    amber: float          # the width of the amber band short of the target (figure's unit)
    direction: str        # "higher" or "lower" (from the registry)

    @property
    def amber_edge(self) -> float:
        return self.target - self.amber if self.direction == "higher" else self.target + self.amber


@lru_cache(maxsize=8)
def _load(path: str, rate: float) -> dict[str, Target]:
    out = {}
    for key, spec in settings._target_specs(path, rate).items():
        m = metrics.METRICS.get(key)
        if m is None or m.direction not in ("higher", "lower"):
            raise ValueError(f"{path}: {key} is not a registry figure with a better direction")
        if spec.get("target") is None:
            raise ValueError(f"{path}: {key} has no target")
        out[key] = Target(key, float(spec["target"]), abs(float(spec.get("amber", 0.0))), m.direction)
    return out


def all_targets() -> dict[str, Target]:
    return _load(str(settings.get("DASHBOARD_TARGETS")), float(settings.get("DASHBOARD_TARGET_RATE")))


def get(key: str, target: float | None = None) -> Target | None:
    """The figure's target (``target`` replaces the configured value, e.g. one set on a page)."""
    tg = all_targets().get(key)
    if tg is not None and target is not None:
        tg = Target(key, float(target), tg.amber, tg.direction)
    return tg


def light(key: str, value, target: float | None = None) -> str | None:
    """green / amber / red for the value, None without a target or a value."""
    tg = get(key, target)
    if tg is None or fmt.is_none(value):
        return None
    if metrics.meets_target(key, float(value), tg.target):
        return "green"
    if metrics.meets_target(key, float(value), tg.amber_edge):
        return "amber"
    return "red"


def rule(key: str, lang: str = "zh", target: float | None = None) -> str | None:
    """The thresholds in words, for hover texts: 目标 ≥90.0%：绿 ≥90.0%；黄 85.0%–90.0%；红 <85.0%."""
    tg = get(key, target)
    if tg is None:
        return None
    kind = metrics.METRICS[key].kind
    v = lambda x: fmt.value(x, kind)  # noqa: E731
    hi = tg.direction == "higher"
    return t("targets.rule_higher" if hi else "targets.rule_lower", lang, target=v(tg.target),
             edge=v(tg.amber_edge))


def symbol(light_: str | None, lang: str = "zh") -> str:
    """A table cell for a light: a coloured dot and its word (readable without colour)."""
    if light_ is None:
        return fmt.NONE
    return t(f"targets.cell_{light_}", lang)
