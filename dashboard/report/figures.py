"""Plotly figures for deck charts (the HTML export and the presentation page)."""
from __future__ import annotations

import plotly.graph_objects as go

from dashboard import fmt
from dashboard.report.deck import Chart

FONT_FAMILY = '"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "Noto Sans SC", sans-serif'
PALETTE = ["#B22222", "#1F4E79", "#D98E04", "#4F8A3C", "#7B5EA7", "#808080"]


def _text(values, kind):
    return [fmt.value(v, kind) for v in values]


def labelled_points(values, most: int = 6) -> set[int]:
    """Which points of a line carry a data label: all of a short line; of a long one (a year's
    months) the first, the last, the highest and the lowest, so labels never run into each other."""
    idx = [i for i, v in enumerate(values) if v is not None]
    if len(idx) <= most:
        return set(idx)
    return {idx[0], idx[-1], max(idx, key=lambda i: values[i]), min(idx, key=lambda i: values[i])}


def headroom(c: Chart) -> list[float] | None:
    """The value axis from zero (counts and hours are never cut) to 18 % above the largest value,
    room for the labels above the bars and points."""
    vals = [v for se in c.series for v in se.values if v is not None]
    top = max(vals, default=0)
    return [0, top * 1.18] if top > 0 else None


def figure(c: Chart, font_size: int = 16, height: int | None = None) -> go.Figure:
    """The chart as a plotly Figure with the same numbers, labels and colours as the PPTX."""
    fig = go.Figure()
    if c.kind == "pie":
        s = c.series[0]
        fig.add_trace(go.Pie(labels=c.categories, values=[v or 0 for v in s.values], sort=False,
                             text=_text(s.values, c.value_kind), textinfo="text+percent",
                             texttemplate="%{text}<br>%{percent:.1%}", hovertemplate="%{label}: %{text}<extra></extra>",
                             marker=dict(colors=PALETTE[:len(c.categories)]), name=s.name))
    else:
        for i, s in enumerate(c.series):
            color = PALETTE[i % len(PALETTE)]
            text = _text(s.values, c.value_kind)
            if c.kind == "line":
                keep = labelled_points(s.values)
                text = [x if i in keep else "" for i, x in enumerate(text)]
                fig.add_trace(go.Scatter(x=c.categories, y=s.values, name=s.name, mode="lines+markers+text",
                                         text=text, textposition="top center", line=dict(color=color, width=3),
                                         cliponaxis=False))
            elif c.kind == "bar":
                fig.add_trace(go.Bar(y=c.categories, x=s.values, name=s.name, orientation="h", text=text,
                                     textposition="outside", marker_color=color, cliponaxis=False))
            else:
                fig.add_trace(go.Bar(x=c.categories, y=s.values, name=s.name, text=text,
                                     textposition="outside", marker_color=color, cliponaxis=False))
        if c.kind == "bar":
            fig.update_yaxes(autorange="reversed", type="category")
            fig.update_xaxes(range=headroom(c), rangemode="tozero")
        else:
            fig.update_xaxes(type="category")
            fig.update_yaxes(range=headroom(c), rangemode="tozero")
    fig.update_layout(title=dict(text=c.title, x=0.5, xanchor="center"),
                      font=dict(family=FONT_FAMILY, size=font_size),
                      margin=dict(l=20, r=20, t=60, b=20), height=height, template="plotly_white",
                      showlegend=len(c.series) > 1 or c.kind == "pie",
                      legend=dict(orientation="h", y=-0.12, x=0.5, xanchor="center"),
                      separators=".,", uniformtext_minsize=10)
    return fig
