"""The deck as one self-contained HTML file: opens offline, nothing fetched from anywhere.

plotly.js is inlined once in the head (the same bundle ``include_plotlyjs=True``
writes); the figures are drawn from the deck's numbers; the map is inlined as a
``srcdoc`` iframe (dashboard.maps' self-contained HTML) or a ``data:`` PNG. Every
piece of text is HTML-escaped. Arrow keys / PageUp / PageDown move between slides;
printing puts one slide per page.
"""
from __future__ import annotations

import base64
import html

import plotly.io as pio
from plotly.offline import get_plotlyjs

from dashboard.i18n import t
from dashboard.report.deck import Deck, Slide
from dashboard.report.figures import FONT_FAMILY, figure

CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}

CSS = """
*{box-sizing:border-box} body{margin:0;font-family:FONT_FAMILY;color:#222;background:#eee}
section.slide{min-height:100vh;padding:0 0 3rem;background:#fff;margin:0 auto 12px;max-width:1400px;
  display:flex;flex-direction:column;scroll-snap-align:start;position:relative}
html{scroll-snap-type:y proximity}
.band{background:#b22222;color:#fff;padding:.8rem 2rem;display:flex;justify-content:space-between;
  align-items:center} .band h2{margin:0;font-size:2.2rem} .band span{font-size:1.2rem}
.body{padding:1.2rem 2rem;flex:1} .lines p{font-size:1.45rem;margin:.4rem 0;line-height:1.6}
.title{justify-content:center;text-align:center} .title h1{font-size:3.2rem;color:#b22222;margin:.2rem 0}
.title h3{font-size:2rem;font-weight:normal;margin:.2rem 0 2rem} .title .lines p{font-size:1.35rem}
.kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:1rem}
.kpi{background:#f7f3ee;border:1px solid #d8cfc4;border-radius:10px;padding:1rem}
.kpi .n{font-size:1.3rem;font-weight:bold} .kpi .v{font-size:2.6rem;color:#b22222;font-weight:bold}
.kpi .c{font-size:1.1rem;color:#666} .good{color:#1b7f3b!important} .bad{color:#b22222!important}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:1rem} .charts>div{min-width:0}
table{border-collapse:collapse;width:100%;font-size:1.05rem} th{background:#b22222;color:#fff;padding:.35rem}
td{border:1px solid #ddd;padding:.25rem .5rem} td.num{text-align:right} tr.low td{color:#b22222}
tr:nth-child(even) td{background:#faf8f5}
.brief p{font-size:1.6rem;line-height:1.9;text-indent:2em;margin:.6rem 0}
ul.alerts li{font-size:1.5rem;line-height:1.7;margin:.5rem 0}
.note{color:#666;font-size:1.1rem} .demo{color:#b22222;font-weight:bold} .foot{position:absolute;bottom:.6rem;left:2rem;right:2rem;color:#888;
  display:flex;justify-content:space-between;font-size:.95rem}
.map img{max-width:100%;max-height:70vh;display:block;margin:0 auto}
.map iframe{width:100%;height:70vh;border:0}
@media print{body{background:#fff} section.slide{page-break-after:always;min-height:auto;margin:0}}
"""

KEYS = """
document.addEventListener('keydown', function (e) {
  var keys = {ArrowRight: 1, PageDown: 1, ArrowDown: 1, ' ': 1, ArrowLeft: -1, PageUp: -1, ArrowUp: -1};
  if (!(e.key in keys)) return;
  var s = Array.prototype.slice.call(document.querySelectorAll('section.slide'));
  var y = window.scrollY + 5, i = 0;
  for (var k = 0; k < s.length; k++) { if (s[k].offsetTop <= y) i = k; }
  var j = Math.max(0, Math.min(s.length - 1, i + keys[e.key]));
  s[j].scrollIntoView({behavior: 'auto'}); e.preventDefault();
});
"""


def _e(s) -> str:
    return html.escape("" if s is None else str(s))


def _lines(lines, cls="lines") -> str:
    return f'<div class="{cls}">' + "".join(f"<p>{_e(x)}</p>" for x in lines) + "</div>"


def slide_body(deck: Deck, s: Slide) -> str:
    """The inside of a slide below its title band (also used by the presentation page)."""
    if s.kind == "kpis":
        cards = []
        for k in s.kpis:
            unit = "" if k.unit == "%" else f" <small>{_e(k.unit)}</small>"
            cls = []
            for ch in (k.mom, k.yoy):
                if ch and k.direction != "neutral":
                    cls.append("good" if (ch > 0) == (k.direction == "higher") else "bad")
                else:
                    cls.append("")
            cards.append(f'<div class="kpi"><div class="n">{_e(k.name)}</div><div class="v">{_e(k.text)}{unit}</div>'
                         f'<div class="c {cls[0]}">{_e(t("meeting.mom", deck.lang))} {_e(k.mom_text)}</div>'
                         f'<div class="c {cls[1]}">{_e(t("meeting.yoy", deck.lang))} {_e(k.yoy_text)}</div></div>')
        return f'<div class="kpis">{"".join(cards)}</div><p class="note">{_e(" ".join(s.lines))}</p>'
    if s.charts:
        figs = "".join("<div>" + pio.to_html(figure(c, 15, 540), include_plotlyjs=False, full_html=False,
                                             config=CONFIG) + "</div>" for c in s.charts)
        return _lines(s.lines) + f'<div class="charts">{figs}</div>'
    if s.kind == "map":
        m = s.map
        inner = ""
        if m and m.html:
            inner = f'<iframe title="{_e(s.title)}" srcdoc="{_e(m.html)}" sandbox="allow-scripts"></iframe>'
        elif m and m.png:
            inner = f'<img alt="{_e(s.title)}" src="data:image/png;base64,{base64.b64encode(m.png).decode()}">'
        return _lines(s.lines) + f'<div class="map">{inner}<p class="note">{_e(m.note if m else "")}</p></div>'
    if s.table is not None:
        tb = s.table
        head = "".join(f"<th>{_e(c)}</th>" for c in tb.columns)
        rows = []
        for i, r in enumerate(tb.rows):
            cells = "".join(f'<td class="{"num" if (j < len(tb.numeric) and tb.numeric[j]) else ""}">{_e(v)}</td>'
                            for j, v in enumerate(r))
            rows.append(f'<tr class="{"low" if i in tb.highlight else ""}">{cells}</tr>')
        return (f'<p class="note">{_e(" ".join(s.lines))}</p>'
                f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    if s.kind == "alerts":
        return '<ul class="alerts">' + "".join(f"<li>{_e(x)}</li>" for x in s.lines) + "</ul>"
    return _lines(s.lines, "brief")


def to_html(deck: Deck) -> str:
    parts = []
    n = len(deck.slides)
    for i, s in enumerate(deck.slides, start=1):
        mark = f'<span class="demo">{_e(deck.mark)}</span>' if deck.demo else ""
        foot = (f'<div class="foot"><span>{_e(deck.township)} · {_e(deck.period_label)}</span>'
                f"{mark}<span>{i} / {n}</span></div>")
        if s.kind == "title":
            parts.append(f'<section class="slide title" id="s{i}"><h1>{_e(s.title)}</h1><h3>{_e(s.subtitle)}</h3>'
                         f'{_lines(s.lines)}{foot}</section>')
        else:
            parts.append(f'<section class="slide {s.kind}" id="s{i}"><div class="band"><h2>{_e(s.title)}</h2>'
                         f'<span>{_e(s.subtitle)}</span></div><div class="body">{slide_body(deck, s)}</div>'
                         f"{foot}</section>")
    lang = "zh-CN" if deck.lang == "zh" else "en"
    note = _e(t("meeting.html_generated", deck.lang, when=deck.generated_at.strftime("%Y-%m-%d %H:%M")))
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(deck.title)} · {_e(deck.period_label)}</title>"
            f"<style>{CSS.replace('FONT_FAMILY', FONT_FAMILY)}</style>"
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f'{"".join(parts)}<p class="note" style="text-align:center">{note}</p>'
            f"<script>{KEYS}</script></body></html>")
