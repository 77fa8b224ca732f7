"""文字简报: a short written briefing generated from templates, never invented.

Every number in the text is a registry value (or a registry change) formatted
with ``dashboard.fmt``; the sentences come from the string catalogue
(``meeting.brief_*``), so the English briefing says the same things.
"""
from __future__ import annotations

from dashboard import fmt, metrics
from dashboard.i18n import t
from dashboard.periods import Period

MAX_NAMED = 3          # villages named before "等N个"
FLAT = 0.0005          # a change smaller than 0.05 percentage point (or 0.05%) reads as 持平


def _words(period: Period, lang: str) -> tuple[str, str]:
    kind = period.kind
    return t(f"meeting.brief_this_{kind}", lang), t(f"meeting.brief_prev_{kind}", lang)


def _rate_change(change, prev_word: str, lang: str, key: str) -> str:
    if change is None:
        return ""
    if abs(change) < FLAT:
        return t(f"meeting.brief_{key}_flat", lang, prev=prev_word)
    return t(f"meeting.brief_{key}", lang, prev=prev_word,
             dir=t("format.up" if change > 0 else "format.down", lang), pp=f"{abs(change) * 100:.1f}")


def _rel_change(change, prev_word: str, lang: str) -> str:
    if change is None:
        return ""
    if abs(change) < FLAT:
        return t("meeting.brief_rel_flat", lang, prev=prev_word)
    return t("meeting.brief_rel", lang, prev=prev_word,
             dir=t("meeting.brief_grow" if change > 0 else "meeting.brief_shrink", lang),
             pct=fmt.pct(abs(change)))


def below_average(r: dict, names: dict) -> list[tuple[str, float]]:
    """Villages whose resolution rate is below the township's, worst first."""
    avg = r["township"]["resolution_rate"]
    if avg is None:
        return []
    rows = [(m["resolution_rate"], names[vid]) for vid, m in r["villages"].items()
            if m["resolution_rate"] is not None and m["resolution_rate"] < avg]
    return [(n, v) for v, n in sorted(rows)]


def briefing_from(r: dict, period: Period, names: dict, lang: str = "zh") -> str:
    """The briefing for ``metrics.with_changes`` output; paragraphs separated by newlines."""
    tw, mom, yoy = r["township"], r["mom"], r["yoy"]
    this, prev = _words(period, lang)
    sep = "、" if lang == "zh" else ", "
    paras = []

    if tw["disputes_total"]:
        s = t("meeting.brief_disputes", lang, this=this, total=fmt.num(tw["disputes_total"]),
              resolved=fmt.num(tw["disputes_resolved"]), rate=fmt.pct(tw["resolution_rate"]))
        s += _rate_change(mom["resolution_rate"], prev, lang, "rate_mom")
        s += _rate_change(yoy["resolution_rate"], "", lang, "rate_yoy")
        low = below_average(r, names)
        if low and len(r["villages"]) > 1:
            shown = sep.join(t("meeting.brief_village_rate", lang, name=n, rate=fmt.pct(v))
                             for n, v in low[:MAX_NAMED])
            more = t("meeting.brief_and_more", lang, n=len(low)) if len(low) > MAX_NAMED else ""
            s += t("meeting.brief_below_avg", lang, villages=shown, more=more,
                   avg=fmt.pct(tw["resolution_rate"]))
        if tw["backlog_overdue"]:
            s += t("meeting.brief_overdue", lang, n=fmt.num(tw["backlog_overdue"]), days=metrics.OVERDUE_DAYS)
        paras.append(s + t("meeting.brief_end", lang))
    else:
        paras.append(t("meeting.brief_no_disputes", lang, this=this))

    if tw["volunteer_activities"]:
        s = t("meeting.brief_volunteers", lang, this=this, n=fmt.num(tw["volunteer_activities"]),
              people=fmt.num(tw["volunteer_participants"]), hours=fmt.num(tw["volunteer_hours"], 1))
        s += _rel_change(mom["volunteer_hours"], prev, lang)
        paras.append(s + t("meeting.brief_end", lang))
    else:
        paras.append(t("meeting.brief_no_volunteers", lang, this=this))

    if tw["rep_visits"]:
        paras.append(t("meeting.brief_visits", lang, this=this, n=fmt.num(tw["rep_visits"]),
                       voters=fmt.num(tw["voters_contacted"]), s=fmt.num(tw["suggestions_collected"]),
                       resolved=fmt.num(tw["issues_resolved"]),
                       rate=fmt.pct(tw["suggestion_resolution_rate"])))
    else:
        paras.append(t("meeting.brief_no_visits", lang, this=this))

    if tw["grids"]:
        paras.append(t("meeting.brief_grid", lang, grids=fmt.num(tw["grids"]),
                       workers=fmt.num(tw["grid_workers"]),
                       per=fmt.num(tw["households_per_grid_worker"], 1)))
    return "\n".join(paras)


def briefing(conn, period: Period, village_ids=None, lang: str = "zh") -> str:
    """文字简报 for a period and villages (None = all), every figure from the registry."""
    from dashboard.queries import summary
    ids = None if village_ids is None else tuple(sorted(set(village_ids)))
    r = metrics.with_changes(conn, period, ids)
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    return briefing_from(r, period, names, lang)
