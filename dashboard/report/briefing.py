"""文字简报: a short written briefing generated from templates, never invented.

Every number in the text is a registry value (or a registry change) formatted
with ``dashboard.fmt``; the sentences come from the string catalogue
(``meeting.brief_*``), so the English briefing says the same things.
"""
from __future__ import annotations

from dashboard import fmt, metrics
from dashboard.i18n import scope, t
from dashboard.periods import Period

MAX_NAMED = 3          # villages named before "等N个"
BIG_CHANGE = 0.10      # a headline count changing by 10 % or more is one of "the biggest changes"
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
    """Villages whose resolution rate is below the township's, biggest problem first: most
    unresolved cases, then lowest rate. A rate over fewer than SMALL_N cases (the registry's
    small-number rule, ``metrics.small``) is left out (2 cases and 1 resolved is 50 %, but no
    leader's headline)."""
    avg = r["township"]["resolution_rate"]
    if avg is None:
        return []
    rows = [(-(m["disputes_total"] - m["disputes_resolved"]), m["resolution_rate"], names[vid])
            for vid, m in r["villages"].items()
            if m["resolution_rate"] is not None and m["resolution_rate"] < avg
            and not metrics.small("resolution_rate", m)]
    return [(n, v) for _, v, n in sorted(rows)]


def _cases(r: dict, names: dict) -> dict:
    return {names[vid]: m["disputes_total"] for vid, m in r["villages"].items()}


def _named(items: list[str], lang: str) -> str:
    """A、B、C等N个村（社区） — at most MAX_NAMED names."""
    sep = "、" if lang == "zh" else ", "
    more = t("meeting.brief_and_more", lang, n=len(items)) if len(items) > MAX_NAMED else ""
    return sep.join(items[:MAX_NAMED]) + more


SAID = {("volunteer_hours", "mom")}   # comparisons the topic paragraphs already state


def biggest_changes(r: dict, period: Period, lang: str, n: int = 3) -> list[str]:
    """The headline counts that moved most (|change| ≥ BIG_CHANGE), one phrase per metric,
    against the previous period or a year ago, whichever moved more (for a year both are the
    previous year: said once); none the topic paragraphs already say (SAID)."""
    this, prev = _words(period, lang)
    same = period.previous() == period.year_ago()
    found = []
    for key in metrics.HEADLINE:
        if metrics.METRICS[key].kind == "rate":
            continue
        options = []
        if (key, "mom") not in SAID:
            options.append((r["mom"][key], t("meeting.brief_vs_prev", lang, prev=prev)))
        if not same and (key, "yoy") not in SAID:
            options.append((r["yoy"][key], t("meeting.brief_vs_year_ago", lang)))
        options = [(c, w) for c, w in options if c is not None and abs(c) >= BIG_CHANGE]
        if options:
            c, w = max(options, key=lambda o: abs(o[0]))
            found.append((abs(c), t("meeting.brief_change_item", lang, name=metrics.METRICS[key].name(lang),
                                    vs=w, dir=t("meeting.brief_grow" if c > 0 else "meeting.brief_shrink", lang),
                                    pct=fmt.pct(abs(c)))))
    found.sort(key=lambda x: -x[0])
    return [x for _, x in found[:n]]


def briefing_from(r: dict, period: Period, names: dict, lang: str = "zh", target: float | None = None,
                  village_ids=None) -> str:
    """The briefing for ``metrics.with_changes`` output; paragraphs separated by newlines:
    the headline figures per topic, the biggest changes, the villages with no activity or
    visit, and 下一步工作 from what needs attention (below ``target``, overdue, idle).
    village_ids: the villages chosen (None = all); a subset is named at the start."""
    tw, mom, yoy = r["township"], r["mom"], r["yoy"]
    this, prev = _words(period, lang)
    same = period.previous() == period.year_ago()   # a year: 较上年度 and 同比 are one comparison
    where = scope(village_ids, names, lang)
    lead = t("meeting.brief_scope", lang, scope=where) if village_ids else ""
    sep = "、" if lang == "zh" else ", "
    paras = []

    if tw["disputes_total"]:
        s = t("meeting.brief_disputes", lang, this=this, total=fmt.num(tw["disputes_total"]),
              resolved=fmt.num(tw["disputes_resolved"]), rate=fmt.pct(tw["resolution_rate"]))
        s += _rate_change(mom["resolution_rate"], prev, lang, "rate_mom")
        if not same:
            s += _rate_change(yoy["resolution_rate"], "", lang, "rate_yoy")
        low = below_average(r, names)
        if low and len(r["villages"]) > 1:
            cases = _cases(r, names)
            shown = sep.join(t("meeting.brief_village_rate", lang, name=n, rate=fmt.pct(v),
                               cases=fmt.num(cases[n])) for n, v in low[:MAX_NAMED])
            more = t("meeting.brief_and_more", lang, n=len(low)) if len(low) > MAX_NAMED else ""
            s += t("meeting.brief_below_avg", lang, villages=shown, more=more,
                   avg=fmt.pct(tw["resolution_rate"]), scope=where)
        if tw["backlog_overdue"]:
            s += t("meeting.brief_overdue", lang, n=fmt.num(tw["backlog_overdue"]), days=metrics.OVERDUE_DAYS)
        paras.append(lead + s + t("meeting.brief_end", lang))
    else:
        paras.append(lead + t("meeting.brief_no_disputes", lang, this=this))

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

    changes = biggest_changes(r, period, lang)
    if changes:
        paras.append(t("meeting.brief_changes", lang, items=("；" if lang == "zh" else "; ").join(changes)))

    vs = r["villages"]
    no_visit = [names[v] for v, m in vs.items() if not m["rep_visits"]]
    idle = [names[v] for v, m in vs.items() if not m["volunteer_activities"]]
    if len(vs) > 1 and (no_visit or idle):
        parts = []
        if no_visit:
            parts.append(t("meeting.brief_no_visit_villages", lang, villages=_named(no_visit, lang)))
        if idle:
            parts.append(t("meeting.brief_idle_villages", lang, villages=_named(idle, lang)))
        paras.append(t("meeting.brief_quiet", lang, this=this, parts=("；" if lang == "zh" else "; ").join(parts)))

    if tw["grids"]:
        paras.append(t("meeting.brief_grid", lang, grids=fmt.num(tw["grids"]),
                       workers=fmt.num(tw["grid_workers"]),
                       per=fmt.num(tw["households_per_grid_worker"], 1)))

    steps = []
    # most unresolved first, as below_average
    below = sorted((m["disputes_resolved"] - m["disputes_total"], m["resolution_rate"], names[v])
                   for v, m in vs.items()
                   if target is not None and not metrics.small("resolution_rate", m)
                   and metrics.meets_target("resolution_rate", m["resolution_rate"], target) is False)
    if below:
        steps.append(t("meeting.brief_step_below", lang, villages=_named([n for *_, n in below], lang),
                       target=fmt.pct(target)))
    if tw["backlog_overdue"]:
        steps.append(t("meeting.brief_step_overdue", lang, n=fmt.num(tw["backlog_overdue"]),
                       days=metrics.OVERDUE_DAYS))
    quiet = [names[v] for v, m in vs.items() if not m["rep_visits"] or not m["volunteer_activities"]]
    if quiet and len(vs) > 1:
        steps.append(t("meeting.brief_step_quiet", lang, villages=_named(quiet, lang)))
    if steps:
        order = [t(f"meeting.brief_ordinal_{i}", lang) for i in range(1, len(steps) + 1)]
        paras.append(t("meeting.brief_next", lang, steps=("；" if lang == "zh" else "; ").join(
            f"{o}{x}" for o, x in zip(order, steps))))
    return "\n".join(paras)


def briefing(conn, period: Period, village_ids=None, lang: str = "zh", target: float | None = None) -> str:
    """文字简报 for a period and villages (None = all), every figure from the registry."""
    from dashboard.queries import summary
    ids = None if village_ids is None else tuple(sorted(set(village_ids)))
    r = metrics.with_changes(conn, period, ids)
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    return briefing_from(r, period, names, lang, target, ids)
