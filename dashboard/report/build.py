"""``build_deck``: the meeting report's slides, every figure from the metric registry.

Trend charts slice the period into calendar months (quarters or years for long
custom periods) and call ``metrics.compute`` on each slice, so a bar labelled
"3月" is exactly what the dashboard shows when March is selected.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from dashboard import fmt, metrics, periods
from dashboard.db import schema as S
from dashboard.i18n import t
from dashboard.periods import Period
from dashboard.queries import disputes, overview, summary
from dashboard.report.briefing import briefing_from
from dashboard.report.deck import Chart, Deck, Kpi, MapImage, Series, Slide, Table

log = logging.getLogger(__name__)

TOP_N = 10
RANKING_METRICS = ("disputes_total", "disputes_resolved", "resolution_rate",
                   "resolved_within_village_rate", "backlog_overdue", "volunteer_hours",
                   "rep_visits", "suggestion_resolution_rate")
MAP_METRIC = "resolution_rate"
MAP_LEVEL = "village"   # village colours with grid outlines: a quarter has few disputes per grid


def _m(key: str, lang: str) -> str:
    return metrics.METRICS[key].name(lang)


def _with_unit(key: str, lang: str) -> str:
    m = metrics.METRICS[key]
    return f"{m.name(lang)}（{m.unit(lang)}）" if lang == "zh" else f"{m.name(lang)} ({m.unit(lang)})"


def _number(v, kind: str):
    """A value as a spreadsheet number in the unit its column header names (rates in %)."""
    return fmt.cell(v, kind, 1)


def slices(period: Period) -> list[Period]:
    """Calendar months inside the period (clipped at both ends); quarters or years when long."""
    def walk(make):
        out, d = [], period.start
        while d <= period.end:
            p = make(d)
            s, e = max(p.start, period.start), min(p.end, period.end)
            out.append(p if (s, e) == (p.start, p.end) else Period(s, e, "custom"))
            d = p.end + timedelta(days=1)
        return out
    out = walk(lambda d: periods.month(d.year, d.month))
    if len(out) > 24:
        out = walk(lambda d: periods.quarter(d.year, (d.month - 1) // 3 + 1))
    if len(out) > 24:
        out = walk(lambda d: periods.year(d.year))
    return out


def slice_label(p: Period, whole: Period, lang: str) -> str:
    same_year = whole.start.year == whole.end.year
    if p.kind == "custom":
        # a clipped month at an edge of a custom period: name the month it belongs to
        p = periods.month(p.start.year, p.start.month) if p.days <= 31 else p
    if p.kind == "month":
        if lang == "zh":
            return f"{p.start.month}月" if same_year else f"{p.start.year}年{p.start.month}月"
        return p.start.strftime("%b") if same_year else p.start.strftime("%b %Y")
    if p.kind == "quarter":
        q = (p.start.month - 1) // 3 + 1
        return f"{p.start.year}Q{q}"
    if p.kind == "year":
        return str(p.start.year)
    return f"{p.start:%m-%d}–{p.end:%m-%d}"


def as_of(conn) -> datetime | None:
    """When the data last changed (the data version's timestamp)."""
    v = conn.execute(sa.select(S.data_version.c.changed_at).where(S.data_version.c.id == 1)).scalar()
    if v is None:
        return None
    return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))


def _change_text(key: str, v, lang: str) -> str:
    return overview.format_change(key, v, lang)


def map_image(conn, period: Period, village_ids, lang: str, with_map: bool = True,
              layers: dict | None = None) -> MapImage:
    """The grid map from dashboard.maps (PNG for PPTX/PDF, self-contained HTML for the HTML export).

    Optional by design: without the maps module, without Chromium, or when drawing fails,
    the report is still made and the map slide says why the map was left out.
    The layers (``queries.map.layers`` for MAP_METRIC; given, or queried here) are read once
    for both the HTML and the picture.
    """
    if not with_map:
        return MapImage(note=t("meeting.map_skipped", lang))
    try:
        from dashboard import maps
        from dashboard.queries import map as qmap
    except ImportError:
        return MapImage(note=t("meeting.map_missing_module", lang))
    ids = None if village_ids is None else tuple(sorted(set(village_ids)))
    kw = dict(metric_key=MAP_METRIC, level=MAP_LEVEL, lang=lang)
    png = page = None
    err = ""
    try:
        data = layers if layers is not None else qmap.layers(conn, period, MAP_METRIC, ids)
        page = maps.map_html_selfcontained(data, **kw) or None
    except Exception as exc:  # noqa: BLE001 - a broken map never breaks the report
        log.warning("map html failed: %s", exc)
        err = str(exc)
    if not err:
        try:
            png = maps.map_png(data, title=t("meeting.slide_map", lang), **kw) or None
        except Exception as exc:  # noqa: BLE001
            log.warning("map png failed: %s", exc)
            err = str(exc)
    if png is not None:
        note = t("meeting.map_caption", lang, metric=_m(MAP_METRIC, lang))
    elif err:
        note = t("meeting.map_failed", lang, error=err[:200])
    else:
        note = t("meeting.map_no_image", lang)
    return MapImage(png=png, html=page, note=note)


def with_map_image(deck: Deck, image: MapImage) -> Deck:
    """A copy of ``deck`` whose map slide shows ``image`` (for a deck built with ``defer_map``);
    the deck itself is left as it is (it may be a cached value)."""
    slides = [replace(s, map=image) if s.kind == "map" else s for s in deck.slides]
    return replace(deck, slides=slides)


def _ranking_order(conn, period: Period, ids) -> list[tuple]:
    """[(rank, village_id, index or None, small)] best first: the governance index's ranking
    (ties share a rank; fewer than SMALL_N cases marked small and ranked after the others)."""
    from dashboard.queries import ranking
    df = ranking.index(conn, period, ids)
    return [(None if fmt.is_none(rk) or rk is None else int(rk), int(vid), None if fmt.is_none(ix) else ix,
             bool(sm)) for rk, vid, ix, sm in zip(df["rank"].astype(object), df["village_id"], df["index"],
                                                  df["small"])]


def _ranking_slide(conn, period: Period, ids, lang: str, target: float, villages: dict, names: dict,
                   label: str) -> Slide:
    order = _ranking_order(conn, period, ids)
    cols = [t("meeting.col_rank", lang), t("overview.col_village", lang), t("meeting.col_index", lang)]
    cols += [_with_unit(k, lang) for k in RANKING_METRICS] + [t("ranking.note_col", lang)]
    rows, raw, low = [], [], []
    mark = t("ranking.small_mark_short", lang, n=metrics.SMALL_N)   # explained in the note below
    for i, (rank, vid, idx, small) in enumerate(order):
        m = villages[vid]
        text = [fmt.NONE if rank is None else str(rank), names[vid], fmt.num(idx, 1)]
        nums = [rank, names[vid], None if idx is None else round(idx, 1)]
        text += [fmt.value(m[k], metrics.METRICS[k].kind) for k in RANKING_METRICS] + [mark if small else ""]
        nums += [_number(m[k], metrics.METRICS[k].kind) for k in RANKING_METRICS] + [mark if small else None]
        rows.append(text)
        raw.append(nums)
        if metrics.meets_target("resolution_rate", m["resolution_rate"], target) is False:
            low.append(i)
    note = t("meeting.ranking_note", lang, metric=_m("resolution_rate", lang), target=fmt.pct(target))
    if any(o[3] for o in order):   # one paragraph: a second line would push the table off the page
        note += (" " if lang == "en" else "") + t("ranking.small_note_short", lang, n=metrics.SMALL_N,
                                                  mark=mark, k=sum(1 for o in order if o[3]))
    lines = [note]
    return Slide("ranking", t("meeting.slide_ranking", lang), label, lines=lines,
                 table=Table(cols, rows, [True, False] + [True] * (len(cols) - 3) + [False], low, raw))


def disputes_chart(conn, period: Period, ids, lang: str, sl: list[Period] | None = None,
                   cats: list[str] | None = None) -> Chart:
    """The disputes trend: the disputes page's monthly frame (queries.disputes.monthly), its
    received and 本期办结 columns, each series named by its registry figure."""
    sl = slices(period) if sl is None else sl
    cats = [slice_label(p, period, lang) for p in sl] if cats is None else cats
    df = disputes.monthly(conn, period, ids, sl)
    series = [Series(_m(key, lang), [int(v) for v in df[col]], key)
              for col, key in (("received", "disputes_total"), ("resolved", "disputes_resolved_in_period"))]
    return Chart("column", t("meeting.chart_disputes_trend", lang), cats, series)


def _supervision_slide(conn, period: Period, ids, lang: str, label: str, count: int) -> Slide:
    """The oldest TOP_N cases of the 督办 list (queries.disputes.supervision) and their count."""
    df = disputes.supervision(conn, period, ids, limit=TOP_N)
    spec = [c for c in disputes.OVERDUE_SPEC if c[0] != "status"]
    cols = [t(label_key, lang) for _, label_key, _ in spec]
    rows, raw = [], []
    for r in df.itertuples(index=False):
        rec = r._asdict()
        rows.append([fmt.NONE if fmt.is_none(rec[c]) else
                     (t(f"enum.level.{rec[c]}", lang) if kind == "level" else
                      fmt.num(rec[c]) if kind == "count" else str(rec[c])) for c, _, kind in spec])
        raw.append([None if fmt.is_none(rec[c]) else (int(rec[c]) if kind == "count" else str(rec[c]))
                    for c, _, kind in spec])
    line = t("meeting.supervision_line", lang, end=period.end.isoformat(), days=metrics.OVERDUE_DAYS,
             n=fmt.num(count), k=len(df))
    return Slide("supervision", t("meeting.slide_supervision", lang), label, lines=[line],
                 table=Table(cols, rows, [kind == "count" for _, _, kind in spec], [], raw))


def _completeness_slide(conn, period: Period, ids, lang: str) -> Slide:
    """报送情况 of the month the period ends in (or the latest month already due): one line of
    counts and the missing ones, and a table of the villages with a missing or late ledger
    (at most a slide's rows; the rest are counted in the line)."""
    from dashboard import settings
    from dashboard.queries import completeness as C
    from loaders.zero import month_label
    month = min(C.month_of(period.end), C.last_due_month())
    bd = C.board(conn, [month], ids)
    lines = [C.summary_line(bd, month, lang)]
    rows_for = C.attention(bd, month)
    title = t("completeness.slide", lang)
    sub = month_label(month, lang)
    if not rows_for:
        return Slide("completeness", title, sub, lines=lines + C.lines(bd, month, lang))
    # at most SLIDE_SPLIT_ROWS rows: the counts' paragraph above the table takes a slide's room
    # (a county's 500 villages overflowed a 768-pixel screen at SLIDE_TABLE_ROWS)
    shown = rows_for[:settings.SLIDE_SPLIT_ROWS]
    # a number first, the name second: the exporters' table layout (a narrow first column)
    cols = [t("completeness.col_no", lang), t("completeness.col_village", lang)] + \
        [t(f"loader.kind.{k}", lang) for k in bd.kinds]
    rows, raw, marked = [], [], []
    for i, (vid, name) in enumerate(shown):
        cells = [bd.cell(vid, k, month) for k in bd.kinds]
        words = [t(f"completeness.status_{c.status}", lang)
                 + (f"（{t('completeness.timing_' + c.timing, lang)}）" if c.timing == "late" else "")
                 for c in cells]
        rows.append([str(i + 1), name, *words])
        raw.append([i + 1, name, *words])
        if any(c.status == "missing" for c in cells):
            marked.append(i)
    lines.append(t("completeness.slide_table_note", lang, month=sub))
    return Slide("completeness", title, sub, lines=[" ".join(lines)],
                 table=Table(cols, rows, [True] + [False] * (len(cols) - 1), marked, raw))


SCOPE_LISTED = 6   # up to this many villages are named on the cover; more are counted


def _village_filter_text(conn, village_ids, lang: str) -> str:
    """Which villages the report covers: all (with their number), the names, or a count."""
    everyone = summary.villages(conn)
    if village_ids is None:
        return t("meeting.scope_all", lang, all=t("filter.all_villages", lang), n=len(everyone))
    if summary.whole_townships(conn, village_ids):   # a township's deck: all of its villages
        return t("meeting.scope_all", lang, all=t("filter.all_villages", lang), n=len(set(village_ids)))
    names = {v["id"]: v["name"] for v in everyone}
    chosen = [v["name"] for v in everyone if v["id"] in set(village_ids)]
    sep = "、" if lang == "zh" else ", "
    if len(chosen) <= SCOPE_LISTED:
        return sep.join(chosen) or fmt.NONE
    return t("meeting.scope_some", lang, names=sep.join(chosen[:3]), n=len(chosen), total=len(names))


def quality_note(conn, period: Period, village_ids, lang: str) -> str:
    """The speaker note counting the data-quality flags (dashboard.quality); figures unchanged."""
    from dashboard import quality
    n = 0 if village_ids is not None and not village_ids else quality.count(conn, period, village_ids)
    return t("quality.deck_note", lang, n=n) if n else t("quality.deck_note_none", lang)


def build_deck(conn, period: Period, village_ids=None, lang: str = "zh", target: float = 0.9, *,
               preparer: str = "", unit: str = "", with_map: bool = True, defer_map: bool = False,
               now: datetime | None = None, flag_villages="deck") -> Deck:
    """The meeting report for a period and a set of villages (None = all), in slide order.

    flag_villages: the villages whose data-quality flags are counted in the title slide's speaker
    notes ("deck": the deck's own villages; pass quality.visible_villages(user, ids) for a viewer).

    defer_map: leave the map slide's picture out (``map`` None) — drawing it takes seconds
    (a headless Chromium); ``with_map_image(deck, map_image(...))`` adds it when needed.
    """
    ids = None if village_ids is None else tuple(sorted(set(village_ids)))
    town = summary.township_of(conn, ids) or (
        {"name": t("scope.county", lang)} if len(summary.townships(conn)) > 1 else
        summary.township(conn) or {"name": ""})
    r = metrics.with_changes(conn, period, ids)
    tw = r["township"]
    vill = {v["id"]: v for v in summary.villages(conn)}
    names = {vid: vill[vid]["name"] for vid in r["villages"]}
    now = now or datetime.now()
    label = period.label(lang)
    deck = Deck(township=town["name"], unit=unit or t("meeting.unit_default", lang, township=town["name"]),
                period=period, period_label=label, lang=lang, as_of=as_of(conn),
                last_day=summary.data_range(conn, ids, period.end)[1], generated_at=now,
                demo=summary.is_demo(conn),
                filters=_village_filter_text(conn, ids, lang), preparer=preparer,
                title=t("meeting.deck_title", lang, township=town["name"]), values=r,
                village_names=[names[v] for v in r["villages"]])
    as_of_text = deck.as_of.strftime("%Y-%m-%d %H:%M") if deck.as_of else fmt.NONE
    last_text = deck.last_day.isoformat() if deck.last_day else fmt.NONE

    # 1 title
    deck.slides.append(Slide("title", deck.title, label, lines=[
        t("meeting.line_period", lang, period=label, start=period.start.isoformat(), end=period.end.isoformat()),
        t("meeting.line_as_of", lang, when=as_of_text, last=last_text),
        t("meeting.line_scope", lang, villages=deck.filters),
        t("meeting.line_unit", lang, unit=deck.unit),
        t("meeting.line_generated", lang, when=now.strftime("%Y-%m-%d %H:%M")),
    ] + ([t("meeting.line_demo", lang)] if deck.demo else []),
        notes=[quality_note(conn, period, ids if flag_villages == "deck" else flag_villages, lang)]))

    # 2 KPIs with 环比 / 同比
    kp = []
    for key in metrics.HEADLINE:
        m = metrics.METRICS[key]
        kp.append(Kpi(key, m.name(lang), tw[key], fmt.value(tw[key], m.kind), m.unit(lang),
                      r["mom"][key], _change_text(key, r["mom"][key], lang),
                      r["yoy"][key], _change_text(key, r["yoy"][key], lang), m.direction))
    deck.slides.append(Slide("kpis", t("meeting.slide_kpis", lang), label, kpis=kp,
                             lines=[t("meeting.kpi_note", lang, previous=period.previous().label(lang),
                                      year_ago=period.year_ago().label(lang))]))

    # trend slices, each computed by the registry
    sl = slices(period)
    cats = [slice_label(p, period, lang) for p in sl]
    per = [metrics.compute(conn, p, ids)["township"] for p in sl]

    def trend(key):
        return [p[key] for p in per]

    # 3 disputes
    lv_grid = tw["resolved_at_grid"]
    lv_village = tw["resolved_in_village"] - tw["resolved_at_grid"]
    lv_up = tw["disputes_resolved"] - tw["resolved_in_village"]
    deck.slides.append(Slide("disputes", t("meeting.slide_disputes", lang), label, lines=[
        t("meeting.disputes_line", lang, total=fmt.num(tw["disputes_total"]),
          resolved=fmt.num(tw["disputes_resolved"]), rate=fmt.pct(tw["resolution_rate"]),
          village_rate=fmt.pct(tw["resolved_within_village_rate"]),
          closed=fmt.num(tw["disputes_resolved_in_period"]), backlog=fmt.num(tw["backlog_open"]),
          overdue=fmt.num(tw["backlog_overdue"]), days=metrics.OVERDUE_DAYS,
          median=fmt.num(tw["median_days_to_resolve"], 1)),
    ], charts=[
        disputes_chart(conn, period, ids, lang, sl, cats),
        Chart("pie", t("meeting.chart_levels", lang),
              [t("enum.level.grid", lang), t("enum.level.village", lang), t("meeting.level_above", lang)],
              [Series(_m("disputes_resolved", lang), [lv_grid, lv_village, lv_up], "disputes_resolved")]),
    ]))

    # 4 volunteers
    by_hours = sorted(r["villages"].items(), key=lambda kv: (-kv[1]["volunteer_hours"], names[kv[0]]))[:TOP_N]
    deck.slides.append(Slide("volunteers", t("meeting.slide_volunteers", lang), label, lines=[
        t("meeting.volunteers_line", lang, n=fmt.num(tw["volunteer_activities"]),
          people=fmt.num(tw["volunteer_participants"]), hours=fmt.num(tw["volunteer_hours"], 1),
          per100=fmt.num(tw["volunteer_hours_per_100_residents"], 1),
          points=fmt.num(tw["volunteer_points"])),
    ], charts=[
        Chart("line", t("meeting.chart_volunteer_trend", lang), cats,
              [Series(_m("volunteer_hours", lang), trend("volunteer_hours"), "volunteer_hours")],
              number_format="#,##0.0", value_kind="hours"),
        Chart("bar", t("meeting.chart_volunteer_top", lang, n=len(by_hours)),
              [names[v] for v, _ in by_hours],
              [Series(_m("volunteer_hours", lang), [m["volunteer_hours"] for _, m in by_hours],
                      "volunteer_hours")], number_format="#,##0.0", value_kind="hours"),
    ]))

    # 5 representative visits
    pending = tw["suggestions_collected"] - tw["issues_resolved"] - tw["issues_referred"]
    deck.slides.append(Slide("visits", t("meeting.slide_visits", lang), label, lines=[
        t("meeting.visits_line", lang, n=fmt.num(tw["rep_visits"]), voters=fmt.num(tw["voters_contacted"]),
          s=fmt.num(tw["suggestions_collected"]), resolved=fmt.num(tw["issues_resolved"]),
          referred=fmt.num(tw["issues_referred"]), rate=fmt.pct(tw["suggestion_resolution_rate"])),
    ], charts=[
        Chart("column", t("meeting.chart_visits_trend", lang), cats,
              [Series(_m("rep_visits", lang), trend("rep_visits"), "rep_visits"),
               Series(_m("suggestions_collected", lang), trend("suggestions_collected"),
                      "suggestions_collected")]),
        Chart("pie", t("meeting.chart_suggestions", lang),
              [_m("issues_resolved", lang), _m("issues_referred", lang), t("meeting.pending", lang)],
              [Series(_m("suggestions_collected", lang),
                      [tw["issues_resolved"], tw["issues_referred"], pending], "suggestions_collected")]),
    ]))

    # 6 grid map
    deck.slides.append(Slide("map", t("meeting.slide_map", lang), label,
                             map=None if defer_map else map_image(conn, period, ids, lang, with_map),
                             lines=[t("meeting.grid_line", lang, grids=fmt.num(tw["grids"]),
                                      workers=fmt.num(tw["grid_workers"]),
                                      per=fmt.num(tw["households_per_grid_worker"], 1))]))

    # 7 village ranking: the governance index (queries.ranking), figures from the registry
    deck.slides.append(_ranking_slide(conn, period, ids, lang, target, r["villages"], names, label))

    # 7b the 督办 list at the period's end: the oldest cases and the count
    deck.slides.append(_supervision_slide(conn, period, ids, lang, label, tw["backlog_overdue"]))

    # 7c 报送情况: who has not reported the period's last month, who reported it late
    deck.slides.append(_completeness_slide(conn, period, ids, lang))

    # 8 alerts
    al = overview.alerts(conn, period, ids, target, lang)
    deck.slides.append(Slide("alerts", t("meeting.slide_alerts", lang), label,
                             lines=al or [t("overview.no_alerts", lang)]))

    # 9 briefing
    deck.slides.append(Slide("briefing", t("meeting.slide_briefing", lang), label,
                             lines=briefing_from(r, period, names, lang, target, ids).split("\n")))
    for s in deck.slides:  # a chart with nothing to show (no villages yet) is left out
        s.charts = [c for c in s.charts if c.categories]
    return deck
