"""The overview's figures: headline KPIs with 环比/同比, the village table and alerts."""
from __future__ import annotations

import pandas as pd

from dashboard import fmt, metrics, settings, targets
from dashboard.i18n import scope, t
from dashboard.periods import Period
from dashboard.queries import summary


def kpis(conn, period: Period, village_ids=None) -> dict:
    """Headline metrics with values and both changes (plain numbers, unformatted)."""
    r = metrics.with_changes(conn, period, village_ids)
    return {k: dict(value=r["township"][k], mom=r["mom"][k], yoy=r["yoy"][k],
                    previous=r["previous"][k], year_ago=r["year_ago"][k])
            for k in metrics.HEADLINE}


def format_change(key: str, change, lang: str = "zh") -> str:
    """A change as shown under a KPI: percentage points for rates, percent otherwise."""
    if change is None:
        return fmt.NONE
    if metrics.METRICS[key].kind == "rate":
        return t("format.pct_point", lang, value=fmt.pp(change))
    return fmt.signed_pct(change)


TABLE_METRICS = ("disputes_total", "disputes_resolved", "resolution_rate",
                 "resolved_within_village_rate", "median_days_to_resolve", "overdue_open",
                 "volunteer_hours", "volunteer_hours_per_100_residents", "rep_visits",
                 "suggestions_collected", "suggestion_resolution_rate")


def village_table(conn, period: Period, village_ids=None, sort_key: str = "resolution_rate",
                  lang: str = "zh") -> pd.DataFrame:
    """One row per village with the table metrics as numbers (rates as fractions), sorted.

    Sorting puts the better villages first by the metric's direction (``metrics.rank_order``:
    undefined values last, rates over fewer than SMALL_N cases after the others).
    """
    r = metrics.compute(conn, period, village_ids)
    names = {v["id"]: v for v in summary.villages(conn)}
    rows = []
    for vid, m in r["villages"].items():
        v = names[vid]
        rows.append({"village_id": vid, "village": v["name"],
                     "kind": t(f"enum.kind.{v['kind']}", lang),
                     **{k: m[k] for k in TABLE_METRICS}})
    df = pd.DataFrame(rows, columns=["village_id", "village", "kind", *TABLE_METRICS])
    # the registry's ranking rule: better first, rates over fewer than SMALL_N cases after the others
    pos = {vid: i for i, vid in enumerate(metrics.rank_order(r["villages"], sort_key))}
    return df.sort_values("village_id", key=lambda s: s.map(pos), kind="stable").reset_index(drop=True)


TABLE_SPEC = [("village", "overview.col_village", "text"), ("kind", "overview.col_kind", "text"),
              *[(k, k, None) for k in TABLE_METRICS]]


def table_for_display(df: pd.DataFrame, lang: str = "zh", export: bool = False) -> pd.DataFrame:
    """Formatted copy with translated headers (percent with one decimal, separators), each
    figure with a target followed by its light; export=True: numbers (fmt.frame's export), for
    the CSV download, as every other table's."""
    shown = fmt.frame(df, TABLE_SPEC, lang, export=export)
    out = shown.iloc[:, :2].copy()
    for (col, _, _), header in zip(TABLE_SPEC[2:], shown.columns[2:]):
        k = col
        m = metrics.METRICS[k]
        out[header] = shown[header]
        if targets.get(k) is not None:      # the traffic light beside the figure it judges
            out[t("targets.column", lang, name=m.name(lang))] = [targets.symbol(targets.light(k, v), lang)
                                                                 for v in df[k]]
    out.index = range(1, len(out) + 1)
    return out


def place_word(conn, village_ids, names: dict, lang: str = "zh") -> str:
    """i18n.scope in a county: 全县 for every village of several townships, the township's name
    for all of one township's villages, else 全镇 / the village / 所选村（社区）."""
    if village_ids is None:
        return t("scope.county", lang) if len(summary.townships(conn)) > 1 else scope(None, names, lang)
    if len(set(village_ids)) > 1 and summary.whole_townships(conn, village_ids):
        tw = summary.township_of(conn, village_ids)
        if tw is not None:
            return tw["name"]
    return scope(village_ids, names, lang)


def listing(items: list[str], lang: str = "zh", order: str = "lowest") -> str:
    """The villages an alert names: all of them up to settings.ALERT_NAMES, else the first few
    ("最低的 5 个：…等"; ``order`` lowest / most / some) — the one place an alert is shortened."""
    sep = "、" if lang == "zh" else ", "
    k = settings.ALERT_NAMES
    if len(items) <= k:
        return sep.join(items)
    return t(f"alerts.first_{order}", lang, k=k, names=sep.join(items[:k]))


def alert_items(conn, period: Period, village_ids=None, target: float = 0.9,
                lang: str = "zh") -> list[dict]:
    """What needs attention: ``{"text": sentence, "villages": [every village it is about, as
    written in the sentence] or None}``. A sentence names at most ALERT_NAMES villages; the
    page shows the whole list on request."""
    r = metrics.compute(conn, period, village_ids)
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    out = []

    def add(text, vids=None, keys=()):
        # the sentence names a few; the whole list beside it, as a table of registry figures
        full = vids if vids and len(vids) > settings.ALERT_NAMES else None
        out.append({"text": text, "villages": [names[v] for v in full] if full else None,
                    "table": alert_table(r, full, keys, names, lang) if full else None})
    # worst first by the registry's rank rule (metrics.rank_order reversed within each group):
    # rates over fewer than SMALL_N cases after the others; each rate beside its count
    order = metrics.rank_order(r["villages"], "resolution_rate")
    below = [vid for vid in order
             if metrics.meets_target("resolution_rate", r["villages"][vid]["resolution_rate"], target) is False]
    below = ([v for v in reversed(below) if not metrics.small("resolution_rate", r["villages"][v])] +
             [v for v in reversed(below) if metrics.small("resolution_rate", r["villages"][v])])
    if below:
        vs = r["villages"]
        items = [t("meeting.brief_village_rate", lang, name=names[v], rate=fmt.pct(vs[v]["resolution_rate"]),
                   cases=fmt.num(vs[v]["disputes_total"])) for v in below]
        add(t("overview.alert_below_target", lang, n=len(below), target=fmt.pct(target),
              villages=listing(items, lang, "lowest")), below, ("resolution_rate", "disputes_total"))
    overdue = sorted(((m["backlog_overdue"], names[vid], vid) for vid, m in r["villages"].items()
                      if m["backlog_overdue"]), key=lambda x: (-x[0], x[1]))
    if overdue:
        items = [f"{name} {n}" for n, name, _ in overdue]
        add(t("overview.alert_overdue", lang, total=sum(n for n, *_ in overdue),
              days=metrics.OVERDUE_DAYS, villages=listing(items, lang, "most")),
            [v for *_, v in overdue], ("backlog_overdue",))
    idle = [vid for vid, m in r["villages"].items() if m["volunteer_activities"] == 0]
    if idle:
        add(t("overview.alert_no_volunteering", lang, villages=listing([names[v] for v in idle], lang, "some")),
            idle, ("volunteer_activities",))
    for text, vids, keys in _more(conn, period, r, names, village_ids, lang):
        add(text, vids, keys)
    town = r["township"]
    if metrics.meets_target("resolution_rate", town["resolution_rate"], target):
        add(t("overview.alert_on_target", lang, rate=fmt.pct(town["resolution_rate"]),
              target=fmt.pct(target), scope=place_word(conn, village_ids, names, lang)))
    return out


def alert_table(r: dict, vids, keys, names: dict, lang: str = "zh") -> pd.DataFrame:
    """The villages an alert is about, in its order, with the registry figures it speaks of."""
    rows = [{"village": names[v], **{k: r["villages"][v][k] for k in keys}} for v in vids]
    spec = [("village", "col.village", "text")] + [(k, k, None) for k in keys]
    return fmt.frame(pd.DataFrame(rows, columns=["village", *keys]), spec, lang)


def alerts(conn, period: Period, village_ids=None, target: float = 0.9, lang: str = "zh") -> list[str]:
    """Sentences naming what needs attention: villages below target, overdue cases, no activity."""
    return [a["text"] for a in alert_items(conn, period, village_ids, target, lang)]


DROP_PP = 0.10   # a village's resolution rate falling by more than 10 percentage points (环比)


def more_alerts(conn, period: Period, r: dict, names: dict, village_ids=None,
                lang: str = "zh") -> list[str]:
    """Sentences beyond the basics: sharp drops against the previous period, villages without
    representative visits, the township's own 环比 change, the bottom of the 红黑榜."""
    return [text for text, *_ in _more(conn, period, r, names, village_ids, lang)]


def _more(conn, period: Period, r: dict, names: dict, village_ids=None,
          lang: str = "zh") -> list[tuple[str, list | None, tuple]]:
    from dashboard.queries import ranking
    sep = "、" if lang == "zh" else ", "
    out = []
    prev = metrics.compute(conn, period.previous(), village_ids)
    drops = [(metrics.change("resolution_rate", m["resolution_rate"],
                             prev["villages"].get(vid, {}).get("resolution_rate")), names[vid], vid)
             for vid, m in r["villages"].items()]
    drops = sorted((c, n, v) for c, n, v in drops if c is not None and c < -DROP_PP)
    if drops:
        items = [f"{n}（{format_change('resolution_rate', c, lang)}）"
                 if lang == "zh" else f"{n} ({format_change('resolution_rate', c, lang)})" for c, n, _ in drops]
        out.append((t("alerts.rate_drop", lang, n=len(drops), pp=fmt.num(DROP_PP * 100),
                      villages=listing(items, lang, "most")), [v for *_, v in drops], ("resolution_rate",)))
    town, ptown = r["township"], prev["township"]
    c = metrics.change("resolution_rate", town["resolution_rate"], ptown["resolution_rate"])
    if c is not None and abs(c) >= 0.005:
        out.append((t("alerts.township_rate_up" if c > 0 else "alerts.township_rate_down", lang,
                      rate=fmt.pct(town["resolution_rate"]), pp=fmt.pp(abs(c)).lstrip("+"),
                      scope=place_word(conn, village_ids, names, lang)), None, ()))
    silent = [vid for vid, m in r["villages"].items() if m["rep_visits"] == 0]
    if silent:
        out.append((t("alerts.no_visits", lang, n=len(silent),
                      villages=listing([names[v] for v in silent], lang, "some")), silent, ("rep_visits",)))
    if len(r["villages"]) >= 4:
        w = ranking.load_weights()
        _, black = ranking.red_black(ranking.index(conn, period, village_ids, w), w["red_black_size"])
        if len(black):
            out.append((t("alerts.black_list", lang, n=len(black), villages=sep.join(
                f"{v}（{fmt.num(i, 1)}）" if lang == "zh" else f"{v} ({fmt.num(i, 1)})"
                for v, i in zip(black["village"], black["index"]))), None, ()))
    return out


def changes_table(result: dict, keys, lang: str = "zh", export: bool = False) -> pd.DataFrame:
    """This period, the previous one and the same period last year, with 环比 and 同比, for the
    given metrics of a metrics.with_changes() result (formatted, or numbers for export)."""
    rows = []
    for k in keys:
        m = metrics.METRICS[k]
        cur, prev, ago = result["township"].get(k), result["previous"].get(k), result["year_ago"].get(k)
        mom, yoy = result["mom"].get(k), result["yoy"].get(k)
        if export:
            kind = m.kind if m.kind in ("rate", "count") else "ratio"
            vals = [fmt.cell(cur, kind, 2), fmt.cell(prev, kind, 2), fmt.cell(mom, "rate"),
                    fmt.cell(ago, kind, 2), fmt.cell(yoy, "rate")]
        else:
            vals = [fmt.value(cur, m.kind), fmt.value(prev, m.kind), format_change(k, mom, lang),
                    fmt.value(ago, m.kind), format_change(k, yoy, lang)]
        unit = "%" if m.kind == "rate" else m.unit(lang)
        rows.append([f"{m.name(lang)}（{unit}）" if lang == "zh" else f"{m.name(lang)} ({unit})", *vals])
    cols = [t(c, lang) for c in ("col.metric", "changes.current", "changes.previous", "overview.mom",
                                 "changes.year_ago", "overview.yoy")]
    out = pd.DataFrame(rows, columns=cols)
    out.index = range(1, len(out) + 1)
    return out
