"""Plotly Figure builders: plain functions from query frames to Figures, no rendering.

Offline by construction: only graph_objects traces drawn from our own numbers (no geo
traces, no outlines or fonts fetched from a CDN). ``CONFIG`` is the plotly config pages pass
to st.plotly_chart; ``to_html`` embeds plotly.js in the file and turns MathJax off.
Series names come from the metric registry, so a chart says exactly what the KPI card says.
"""
from __future__ import annotations

import html

import plotly.graph_objects as go
import plotly.io as pio

from dashboard import fmt, metrics
from dashboard.i18n import t

FONT = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, sans-serif"
COLORS = {"primary": "#b22222", "good": "#2e7d32", "bad": "#c62828", "neutral": "#5b7083",
          "second": "#e0a33a", "third": "#4a90c2", "fourth": "#8e6bbf", "grey": "#9e9e9e"}
LEVEL_COLORS = {"grid": "#2e7d32", "village": "#7cb342", "township": "#e0a33a", "county": "#c62828"}
PALETTE = ["#b22222", "#e0a33a", "#4a90c2", "#2e7d32", "#8e6bbf", "#5b7083", "#d4708f", "#7cb342"]
# st.plotly_chart(fig, config=CONFIG): no plotly logo or cloud link, PNG export at 2x.
CONFIG = {"displaylogo": False, "showSendToCloud": False,
          "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
          "toImageButtonOptions": {"format": "png", "scale": 2}}


def _name(key: str, lang: str) -> str:
    return metrics.METRICS[key].name(lang)


def _num(key: str) -> str:
    """d3 format of a metric's values in hover labels."""
    kind = metrics.METRICS[key].kind
    return ".1%" if kind == "rate" else (",.1f" if kind in ("days", "ratio", "hours") else ",d")


def _labels(items) -> list[str]:
    """Category labels typed by people (village, team, category, representative names), escaped:
    plotly reads a small HTML subset in labels, so a name is always shown as text."""
    return [html.escape(str(x), quote=False) for x in items]


HORIZONTAL_ABOVE = 12      # a sorted village chart with more bars than this is drawn horizontally
REFERENCE_MARGIN = 110     # px right of the plot for "全镇 10.5" / "目标 90%" beside their lines
RADAR_LINE = 6             # characters per line of a radar label


def _wrap(name: str, width: int = RADAR_LINE) -> str:
    """A label broken into lines of ``width`` characters (plotly's <br>); the text escaped."""
    name = html.escape(str(name), quote=False)
    return "<br>".join(name[i:i + width] for i in range(0, len(name), width))


def _vals(series) -> list:
    """Plain Python values, None for undefined (NaN) so the JSON says null, never 0."""
    return [None if fmt.is_none(v) else (v.item() if hasattr(v, "item") else v) for v in series]


def _layout(fig: go.Figure, title: str | None = None, height: int = 380, **kw) -> go.Figure:
    kw.setdefault("hovermode", "x unified")
    fig.update_layout(template="plotly_white", height=height, separators=".,",
                      title=dict(text=title, x=0, xanchor="left", xref="paper", y=0.98,
                                 yref="container", yanchor="top", font=dict(size=15)) if title else None,
                      font=dict(family=FONT, size=13),
                      margin=dict(l=10, r=10, t=80 if title else 30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0),
                      **kw)
    return fig


def empty(message: str) -> go.Figure:
    """A blank figure carrying a note (e.g. no data in the period)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=16, color=COLORS["grey"]))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height=240)


def bars(x, series: list[tuple], title: str | None = None, orientation: str = "v",
         barmode: str = "group", barnorm: str | None = None, height: int = 380,
         colors: list | None = None) -> go.Figure:
    """Grouped or stacked bars. series: [(name, values, d3 format)]."""
    fig = go.Figure()
    for i, (name, values, fmt_) in enumerate(series):
        color = (colors or PALETTE)[i % len(colors or PALETTE)]
        kw = dict(x=_labels(x), y=_vals(values)) if orientation == "v" else dict(y=_labels(x), x=_vals(values))
        hv = "%{y:" + fmt_ + "}" if orientation == "v" else "%{x:" + fmt_ + "}"
        fig.add_trace(go.Bar(name=name, orientation=orientation, marker_color=color,
                             hovertemplate=f"{name}: {hv}<extra></extra>", **kw))
    _layout(fig, title, height, barmode=barmode, barnorm=barnorm)
    fig.update_layout(legend_traceorder="normal")
    if orientation == "h":
        fig.update_yaxes(autorange="reversed")
        fig.update_layout(hovermode="y unified")
    return fig


def monthly_combo(months, bar_series: list[tuple], line: tuple | None = None,
                  title: str | None = None) -> go.Figure:
    """Monthly bars (left axis) with an optional line on a right axis (e.g. a rate)."""
    fig = bars(months, bar_series, title)
    if line is not None:
        name, values, fmt_ = line
        fig.add_trace(go.Scatter(x=list(months), y=_vals(values), name=name, mode="lines+markers",
                                 yaxis="y2", line=dict(color=COLORS["neutral"], width=2),
                                 connectgaps=False,
                                 hovertemplate=f"{name}: %{{y:{fmt_}}}<extra></extra>"))
        # a rate on round ticks 0 %, 20 % … 100 % (never 11 % / 23 % / 34 %); counts from zero
        rate = dict(range=[0, 1.05], tick0=0, dtick=0.2, tickformat=".0%") if "%" in fmt_ else \
            dict(rangemode="tozero", nticks=6)
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", showgrid=False, **rate))
    fig.update_yaxes(rangemode="tozero", selector=dict(overlaying=None))
    fig.update_xaxes(type="category")
    return fig


# ---------------------------------------------------------------- disputes

def disputes_monthly(df, lang: str = "zh", last_year=None) -> go.Figure:
    """Monthly received vs resolved (bars) and the month's own resolution rate (line); with
    last_year (monthly() of period.year_ago()), last year's received month by month (同比)."""
    fig = monthly_combo(df["month"], [(_name("disputes_total", lang), df["received"], ",d"),
                                      (_name("disputes_resolved_in_period", lang), df["resolved"], ",d")],
                        (t("charts.month_rate", lang), df["rate"], ".1%"),
                        t("charts.disputes_monthly", lang))
    if last_year is not None and len(last_year) == len(df):
        name = t("charts.received_year_ago", lang)
        fig.add_trace(go.Scatter(x=list(df["month"]), y=_vals(last_year["received"]), name=name,
                                 mode="lines+markers", line=dict(color=COLORS["primary"], dash="dot"),
                                 customdata=list(last_year["month"]),
                                 hovertemplate=name + " (%{customdata}): %{y:,d}<extra></extra>"))
    return fig


def metric_by_village(df, key: str, township_value=None, lang: str = "zh", target=None,
                      title: str | None = None, sort: bool = False, scope: str | None = None) -> go.Figure:
    """One registry metric per village (the frame's order, or best first with sort=True), with
    the township figure as a dashed line and an optional target line; bars missing it in red."""
    from dashboard import targets
    m = metrics.METRICS[key]
    if sort:
        df = df.sort_values(key, ascending=m.direction == "lower", na_position="last", kind="stable")
    values = _vals(df[key])
    # the traffic light of the figure's target (dashboard.targets: the cards' colours and bands)
    lights = [targets.light(key, v, target) if target is not None else None for v in values]
    colors = [targets.COLOURS[x] if x else COLORS["third"] for x in lights]
    text = [fmt.value(v, m.kind) for v in values]
    small = [False] * len(values)
    if m.kind == "rate" and m.denominator and m.denominator in df:   # the rate beside its count
        dens = list(df[m.denominator])
        small = [not fmt.is_none(d) and d < metrics.SMALL_N for d in dens]
        text = [x if fmt.is_none(d) or fmt.is_none(v) else f"{x}（{fmt.num(d)}）" if lang == "zh"
                else f"{x} ({fmt.num(d)})" for x, d, v in zip(text, dens, values)]
    hv = "%{x}: %{y:" + _num(key) + "}<extra></extra>"
    # a ranking of many villages (sort=True) as horizontal bars: every name level and readable
    across = sort and len(values) > HORIZONTAL_ABOVE
    if across:
        bar = go.Bar(y=_labels(df["village"]), x=values, orientation="h", hovertemplate=hv.replace("%{x}: %{y:", "%{y}: %{x:"),
                     name=m.name(lang), marker_color=colors, text=text, textposition="outside", cliponaxis=False)
    else:
        bar = go.Bar(x=_labels(df["village"]), y=values, name=m.name(lang), marker_color=colors,
                     text=text, textposition="outside", cliponaxis=False, hovertemplate=hv)
    if any(small):   # fewer than SMALL_N cases: hatched, ranked after the others
        bar.marker.pattern = dict(shape=["/" if s else "" for s in small])
    fig = go.Figure(bar)
    _layout(fig, title or m.name(lang), max(420, 24 * len(values) + 120) if across else 420,
            hovermode="closest", showlegend=False)
    # the reference lines' labels in the right margin, beside the line, never on the bars
    line = fig.add_vline if across else fig.add_hline
    where = dict(annotation_position="top", annotation_yanchor="bottom") if across else \
        dict(annotation_position="right", annotation_xanchor="left")
    if township_value is not None:
        line(township_value, line=dict(color=COLORS["neutral"], dash="dash"),
             annotation_text=t("charts.township_line", lang, value=fmt.value(township_value, m.kind),
                               scope=scope or t("scope.township", lang)), **where)
    if target is not None:
        line(target, line=dict(color=COLORS["bad"], dash="dot"),
             annotation_text=t("charts.target_line", lang, value=fmt.value(target, m.kind)), **where)
    if not across and (township_value is not None or target is not None):
        fig.update_layout(margin=dict(r=REFERENCE_MARGIN))
    value_axis = fig.update_xaxes if across else fig.update_yaxes
    if m.kind == "rate":
        value_axis(tickformat=".0%", range=[0, 1.12])
    else:
        value_axis(rangemode="tozero")
    if across:
        fig.update_yaxes(type="category", autorange="reversed")
    else:
        fig.update_xaxes(type="category", tickangle=-45)
    return fig


def level_label(level: str, lang: str) -> str:
    return t(f"enum.level.{level}", lang)


def level_funnel(totals: dict[str, int], lang: str = "zh") -> go.Figure:
    """Resolved disputes by the level that resolved them, grid → village → township → county."""
    levels = list(totals)
    fig = go.Figure(go.Funnel(y=[level_label(lv, lang) for lv in levels],
                              x=[int(totals[lv]) for lv in levels], textinfo="value+percent total",
                              marker=dict(color=[LEVEL_COLORS[lv] for lv in levels]),
                              hovertemplate="%{y}: %{x:,d}<extra></extra>"))
    return _layout(fig, t("charts.level_funnel", lang), 340, hovermode="closest")


SUGGESTION_STAGE_COLORS = {"collected": COLORS["third"], "on_the_spot": COLORS["good"],
                           "referred": COLORS["second"], "replied": "#7cb342", "satisfied": "#2e7d32"}


def referral_funnel(df, lang: str = "zh") -> go.Figure:
    """Suggestions collected → solved on the spot / referred → answered → satisfied
    (queries.visits.referral_funnel)."""
    stages = list(df["stage"])
    fig = go.Figure(go.Funnel(y=[t(f"visits.stage.{s}", lang) for s in stages],
                              x=[int(n) for n in df["n"]], textinfo="value+percent initial",
                              marker=dict(color=[SUGGESTION_STAGE_COLORS[s] for s in stages]),
                              hovertemplate="%{y}: %{x:,d}<extra></extra>"))
    return _layout(fig, t("charts.referral_funnel", lang), 340, hovermode="closest")


def levels_by_village(df, lang: str = "zh") -> go.Figure:
    """Per village, the shares of its resolved disputes by level (100% stacked bars)."""
    shown = df[df["resolved"] > 0]
    fig = bars(shown["village"], [(level_label(lv, lang), shown[f"level_{lv}"], ",d") for lv in LEVEL_COLORS],
               t("charts.levels_by_village", lang), orientation="h", barmode="stack",
               barnorm="percent", height=max(360, 22 * len(shown) + 120),
               colors=list(LEVEL_COLORS.values()))
    fig.update_xaxes(ticksuffix="%")
    return fig


def days_histogram(dist: dict, lang: str = "zh") -> go.Figure:
    """Resolved disputes per days-to-resolve bucket, the median in the title."""
    from dashboard.queries.disputes import days_table
    b = days_table(dist, lang)
    title = t("charts.days_histogram", lang, median=fmt.num(dist["median"], 1))
    fig = bars(b["bucket"], [(_name("disputes_resolved", lang), b["count"], ",d")], title,
               colors=[COLORS["third"]])
    fig.update_layout(showlegend=False)
    fig.update_xaxes(type="category")
    return fig


def categories_bar(df, lang: str = "zh") -> go.Figure:
    """Disputes per category: received and resolved."""
    return bars(df["category"], [(_name("disputes_total", lang), df["received"], ",d"),
                                 (_name("disputes_resolved", lang), df["resolved"], ",d")],
                t("charts.categories", lang), orientation="h", height=max(320, 30 * len(df) + 120))


# ---------------------------------------------------------------- volunteers

def volunteer_monthly(df, lang: str = "zh") -> go.Figure:
    """Monthly volunteer hours (bars) and activities (line)."""
    return monthly_combo(df["month"], [(_name("volunteer_hours", lang), df["hours"], ",.1f")],
                         (_name("volunteer_activities", lang), df["activities"], ",d"),
                         t("charts.volunteer_monthly", lang))


def teams_bar(df, lang: str = "zh", top: int = 15) -> go.Figure:
    """The top teams by hours (horizontal bars, best at the top)."""
    d = df.head(top)
    return bars(d["team"], [(_name("volunteer_hours", lang), d["hours"], ",.1f")],
                t("charts.teams", lang, n=len(d)), orientation="h",
                height=max(320, 26 * len(d) + 120), colors=[COLORS["good"]])


def donut(labels, values, title: str | None = None, fmt_: str = ",.1f") -> go.Figure:
    fig = go.Figure(go.Pie(labels=_labels(labels), values=_vals(values), hole=0.45, sort=False,
                           marker=dict(colors=PALETTE), textinfo="label+percent",
                           hovertemplate="%{label}: %{value:" + fmt_ + "} (%{percent})<extra></extra>"))
    return _layout(fig, title, 380, hovermode="closest", showlegend=False)


def activity_mix(df, lang: str = "zh") -> go.Figure:
    """Activity-type mix by hours."""
    return donut(df["category"], df["hours"], t("charts.activity_mix", lang))


# ---------------------------------------------------------------- visits

def rep_type_label(code: str, lang: str) -> str:
    return t(f"enum.rep_type.{code}", lang)


def outcomes(labels, df, lang: str = "zh", title: str | None = None,
             orientation: str = "v") -> go.Figure:
    """Suggestions collected vs issues resolved vs issues referred, per label."""
    series = [(_name("suggestions_collected", lang), df["suggestions"], ",d"),
              (_name("issues_resolved", lang), df["resolved"], ",d"),
              (_name("issues_referred", lang), df["referred"], ",d")]
    n = len(df)
    fig = bars(labels, series, title, orientation=orientation,
               height=max(360, 26 * n + 140) if orientation == "h" else 400,
               colors=[COLORS["third"], COLORS["good"], COLORS["second"]])
    if orientation == "v":
        fig.update_xaxes(type="category", tickangle=-45 if n > 8 else 0)
    return fig


def visits_by_type(df, lang: str = "zh") -> go.Figure:
    """Per representative type: visits and voters contacted."""
    labels = [rep_type_label(c, lang) for c in df["rep_type"]]
    fig = bars(labels, [(_name("rep_visits", lang), df["visits"], ",d"),
                        (_name("voters_contacted", lang), df["voters"], ",d")],
               t("charts.visits_by_type", lang))
    fig.data[1].update(yaxis="y2", offsetgroup=1)
    fig.data[0].update(offsetgroup=0)
    fig.update_layout(yaxis2=dict(overlaying="y", side="right", showgrid=False, rangemode="tozero"),
                      yaxis=dict(title=_name("rep_visits", lang)))
    return fig


def visits_per_village(df, lang: str = "zh") -> go.Figure:
    """Per village: suggestions collected vs resolved vs referred (the registry's figures)."""
    d = df.rename(columns={"suggestions_collected": "suggestions", "issues_resolved": "resolved",
                           "issues_referred": "referred"})
    return outcomes(d["village"], d, lang, t("charts.visits_per_village", lang))


def visits_per_rep(df, lang: str = "zh", top: int = 20) -> go.Figure:
    d = df.head(top)
    labels = [f"{n}（{rep_type_label(c, lang)}）" if lang == "zh" else f"{n} ({rep_type_label(c, lang)})"
              for n, c in zip(d["rep_name"], d["rep_type"])]
    return outcomes(labels, d, lang, t("charts.visits_per_rep", lang, n=len(d)), orientation="h")


def visits_monthly(df, lang: str = "zh") -> go.Figure:
    """Monthly visit records (bars) and voters contacted (line)."""
    return monthly_combo(df["month"], [(_name("rep_visits", lang), df["visits"], ",d")],
                         (_name("voters_contacted", lang), df["voters"], ",d"),
                         t("charts.visits_monthly", lang))


def visits_by_form(df, lang: str = "zh") -> go.Figure:
    """Visit records by form (home visits, station receptions, forums)."""
    return donut([t(f"enum.form.{c}", lang) for c in df["form"]], df["visits"],
                 t("charts.visits_by_form", lang), ",d")


def visits_by_level(df, lang: str = "zh") -> go.Figure:
    """Visit records by the representatives' level (全国/省/市/县/镇, not written)."""
    return donut([t(f"enum.rep_level.{c}", lang) for c in df["rep_level"]], df["visits"],
                 t("charts.visits_by_level", lang), ",d")


# ---------------------------------------------------------------- village profile & ranking

def village_trend(df, lang: str = "zh") -> go.Figure:
    """A village's last 12 months: disputes received and resolved, volunteer hours, visits."""
    fig = monthly_combo(df["month"], [(_name("disputes_total", lang), df["received"], ",d"),
                                      (_name("disputes_resolved_in_period", lang), df["resolved"], ",d"),
                                      (_name("rep_visits", lang), df["visits"], ",d")],
                        (_name("volunteer_hours", lang), df["hours"], ",.1f"),
                        t("charts.village_trend", lang))
    return fig


COMPARE_RATES = ("resolution_rate", "resolved_within_grid_rate", "resolved_within_village_rate",
                 "overdue_rate", "suggestion_resolution_rate")


def village_vs_township(values: dict, township: dict, lang: str = "zh",
                        keys=COMPARE_RATES) -> go.Figure:
    """A village's rates beside the township's (grouped bars, percent)."""
    names = [_name(k, lang) for k in keys]
    fig = bars(names, [(t("village.col_value", lang), [values.get(k) for k in keys], ".1%"),
                       (t("scope.township", lang), [township.get(k) for k in keys], ".1%")],
               t("charts.village_vs_township", lang), colors=[COLORS["primary"], COLORS["grey"]])
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(type="category")
    return fig


def index_radar(scores: dict, lang: str = "zh", title: str | None = None) -> go.Figure:
    """A village's 0–100 scores on each weighted metric of the governance index."""
    keys = [k for k in scores]
    theta = [_wrap(_name(k, lang)) for k in keys]
    r = [None if fmt.is_none(scores[k]) else float(scores[k]) for k in keys]
    fig = go.Figure(go.Scatterpolar(r=r + r[:1], theta=theta + theta[:1], fill="toself",
                                    line=dict(color=COLORS["primary"]),
                                    hovertemplate="%{theta}: %{r:.1f}<extra></extra>"))
    _layout(fig, title, 420, hovermode="closest", showlegend=False)
    # long metric names on two lines, and room around the circle: neighbours never overlap
    fig.update_layout(polar=dict(radialaxis=dict(range=[0, 100], showticklabels=True, angle=90,
                                                 tickfont=dict(size=10)),
                                 angularaxis=dict(tickfont=dict(size=12), rotation=90, direction="clockwise"),
                                 domain=dict(x=[0.12, 0.88], y=[0.08, 0.92])),
                      margin=dict(l=40, r=40, t=60 if title else 40, b=40))
    return fig


def index_bar(df, lang: str = "zh", title: str | None = None) -> go.Figure:
    """Villages by governance index (best first)."""
    d = df[df["index"].notna()]
    fig = bars(d["village"], [(t("charts.index", lang), d["index"], ".1f")], title,
               orientation="h", height=max(360, 22 * len(d) + 120), colors=[COLORS["primary"]])
    if "small" in d:   # fewer than SMALL_N cases: ranked after the others, drawn pale
        fig.data[0].marker.color = [COLORS["grey"] if s else COLORS["primary"] for s in d["small"]]
    fig.update_layout(showlegend=False)
    fig.update_xaxes(range=[0, 100])
    return fig


def to_html(fig: go.Figure) -> str:
    """A self-contained HTML page of the figure: plotly.js inline, no MathJax, no CDN."""
    return pio.to_html(fig, include_plotlyjs=True, include_mathjax=False, full_html=True,
                       config=CONFIG)
