"""The grid map (网格地图): folium builders that work with no internet at all.

``build_map`` returns a ``folium.Map`` and renders nothing. Every script and
stylesheet it links comes from ``static/vendor`` (pinned copies, see the README
there): served by Streamlit at ``/app/static/vendor`` for the page, inlined for
the standalone HTML (``map_html_selfcontained``) and the PNG (``map_png``).
The layers, legend and labels are small Leaflet scripts of our own, so the
payload stays lean (compact properties, no per-feature style table) and every
name is HTML-escaped in Python before it reaches the browser.

No basemap by default; ``tiles_url`` adds an intranet tile layer, and for a
GCJ-02 basemap (Amap, Tencent) the geometry is shifted for display only.
"""
from __future__ import annotations

import base64
import html
import json
import math
import re
import time
from pathlib import Path
from typing import Iterable

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template
from shapely.geometry import mapping

from dashboard import fmt, geo, metrics
from dashboard.i18n import t

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "static" / "vendor"
STATIC_URL = "/app/static/vendor"      # where Streamlit serves static/vendor

# Every asset a map may link: name → path under static/vendor (versions pinned in the path).
ASSETS_JS = {
    "leaflet": "leaflet/1.9.3/leaflet.js",
    "markercluster": "leaflet.markercluster/1.1.0/leaflet.markercluster.js",
    "leaflet_heat": "leaflet-heat/leaflet_heat.min.js",
}
ASSETS_CSS = {
    "leaflet_css": "leaflet/1.9.3/leaflet.css",
    "markercluster_css": "leaflet.markercluster/1.1.0/MarkerCluster.css",
    "markercluster_default_css": "leaflet.markercluster/1.1.0/MarkerCluster.Default.css",
}

LEVELS = ("village", "grid")
CLASS_METHODS = ("quantile", "jenks", "target")   # target: red/amber/green anchored at the target
POINT_MODES = ("none", "cluster", "heat")
N_CLASSES = 5
CANVAS_ABOVE = 800          # features; above this the choropleth draws on canvas (much faster)
WIDTH, HEIGHT = 1000, 650   # the map box the display geometry is simplified for

# ColorBrewer RdYlBu, worst → best: red is worse whichever way "worse" points.
JUDGED = {
    2: ["#d7191c", "#2c7bb6"],
    3: ["#fc8d59", "#ffffbf", "#91bfdb"],
    4: ["#d7191c", "#fdae61", "#abd9e9", "#2c7bb6"],
    5: ["#d7191c", "#fdae61", "#ffffbf", "#abd9e9", "#2c7bb6"],
    6: ["#d73027", "#fc8d59", "#fee090", "#e0f3f8", "#91bfdb", "#4575b4"],
    7: ["#d73027", "#fc8d59", "#fee090", "#ffffbf", "#e0f3f8", "#91bfdb", "#4575b4"],
}
# ColorBrewer Blues, low → high: for neutral figures (households, disputes received).
NEUTRAL = {
    2: ["#deebf7", "#3182bd"],
    3: ["#deebf7", "#9ecae1", "#3182bd"],
    4: ["#eff3ff", "#bdd7e7", "#6baed6", "#2171b5"],
    5: ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"],
    6: ["#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"],
    7: ["#eff3ff", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594"],
}
NODATA_FILL = "#d0d0d0"
BACKGROUND = "#f6f4ef"

# ---------------------------------------------------------------- classes and colours


def classify(values: Iterable, k: int = N_CLASSES, method: str = "quantile") -> list[float]:
    """Class breaks (ascending edges, min first, max last) for the defined values.

    quantile: equal counts per class; jenks: natural breaks (jenkspy). Fewer
    classes when there are fewer distinct values; [] when there is no value.
    """
    if method not in CLASS_METHODS or method == "target":   # target: target_breaks
        raise ValueError(f"classes must be one of {CLASS_METHODS}")
    arr = np.array([float(v) for v in values if not fmt.is_none(v)], dtype=float)
    if arr.size == 0:
        return []
    uniq = np.unique(arr)
    if uniq.size == 1:
        return [float(uniq[0]), float(uniq[0])]
    k = max(1, min(k, uniq.size - 1 if uniq.size <= k else k))
    if method == "jenks" and uniq.size > k:
        import jenkspy
        breaks = jenkspy.jenks_breaks(arr.tolist(), n_classes=k)
    else:
        breaks = np.quantile(arr, np.linspace(0, 1, k + 1)).tolist()
        if len(set(breaks)) - 1 < k:
            # ties (many 100% rates) collapse classes: cut the distinct values instead
            breaks = np.quantile(uniq, np.linspace(0, 1, k + 1)).tolist()
    out = []
    for b in breaks:
        b = float(b)
        if not out or b > out[-1] + 1e-12:
            out.append(b)
    if len(out) == 1:
        out.append(out[0])
    return out


def target_breaks(values: Iterable, metric_key: str) -> list[float]:
    """Three classes anchored at the figure's target (dashboard.targets), in ascending order:
    for a higher-is-better figure red < amber edge ≤ amber < target ≤ green; mirrored for lower.
    The outer edges take in every value, so each class shows in the legend even when empty."""
    from dashboard import targets
    tg = targets.get(metric_key)
    if tg is None:
        raise ValueError(f"{metric_key} has no target")
    arr = [float(v) for v in values if not fmt.is_none(v)]
    lo_edge, hi_edge = sorted((tg.amber_edge, tg.target))
    if tg.direction == "lower":     # at the target is green: the edge sits just above it
        lo_edge, hi_edge = float(np.nextafter(tg.target, np.inf)), float(np.nextafter(tg.amber_edge, np.inf))
    lo = min(arr + [lo_edge - (tg.amber or abs(tg.target) * 0.1 or 1)])
    hi = max(arr + [hi_edge])
    return [lo, lo_edge, hi_edge, hi]


def target_palette(metric_key: str) -> list[str]:
    """The colours of target_breaks' classes, ascending: red, amber, green (reversed for lower)."""
    from dashboard import targets
    cols = [targets.COLOURS[k] for k in ("red", "amber", "green")]
    return cols if metrics.METRICS[metric_key].direction == "higher" else cols[::-1]


def class_of(value, breaks: list[float]) -> int:
    """Index of the class holding ``value`` (lower edge inclusive, last class closed); −1 = no data."""
    if fmt.is_none(value) or not breaks:
        return -1
    inner = breaks[1:-1]
    return int(np.searchsorted(np.asarray(inner), float(value), side="right"))


def palette(metric_key: str, n: int) -> list[str]:
    """n colours for classes in ascending value order; red marks the worse end."""
    n = max(1, n)
    direction = metrics.METRICS[metric_key].direction
    if n == 1:
        return ["#fdae61" if direction != "neutral" else "#6baed6"]
    n = min(n, 7)
    if direction == "neutral":
        return list(NEUTRAL[n])
    worst_first = list(JUDGED[n])
    return worst_first if direction == "higher" else worst_first[::-1]


# The map's own names of registry figures, where a map reads better with a shorter word
# (catalogue keys map.metric_name.<key>): the stock of overdue cases is "超期积案" on the map.
MAP_NAMES = ("backlog_overdue",)


def metric_label(metric_key: str, lang: str = "zh") -> str:
    """The figure's name on the map: the registry's, or its map name (MAP_NAMES)."""
    if metric_key in MAP_NAMES:
        return t(f"map.metric_name.{metric_key}", lang)
    return metrics.METRICS[metric_key].name(lang)


def ranks(values: list, metric_key: str) -> list[int | None]:
    """1 = best (highest for 'higher', lowest for 'lower', largest for neutral); ties share a rank."""
    direction = metrics.METRICS[metric_key].direction
    sign = 1 if direction == "lower" else -1
    keyed = np.sort(np.array([float(v) * sign for v in values if not fmt.is_none(v)], dtype=float))
    return [None if fmt.is_none(v) else int(np.searchsorted(keyed, float(v) * sign, side="left")) + 1
            for v in values]


def format_value(metric_key: str, value, lang: str = "zh", unit: bool = True) -> str:
    m = metrics.METRICS[metric_key]
    if fmt.is_none(value):
        return t("map.nodata", lang)
    text = fmt.value(value, m.kind)
    if unit and m.kind != "rate":
        text = f"{text} {m.unit(lang)}"
    return text


def tooltip_value(metric_key: str, value, den=None, lang: str = "zh") -> str:
    """The tooltip's value: a rate beside its count (its denominator, e.g. 66.7%（6件）)."""
    text = format_value(metric_key, value, lang)
    m = metrics.METRICS[metric_key]
    if m.kind != "rate" or fmt.is_none(value) or fmt.is_none(den) or not m.denominator:
        return text
    d = metrics.METRICS[m.denominator]
    return f"{text}（{fmt.num(den)}{d.unit(lang)}）" if lang == "zh" else f"{text} ({fmt.num(den)} {d.unit(lang)})"


def _den(df, i):
    return df["den"].iloc[i] if "den" in df else None


def _edge(metric_key: str, v: float, lang: str) -> str:
    m = metrics.METRICS[metric_key]
    if m.kind == "rate":
        return fmt.pct(v)
    if m.kind == "count" and float(v).is_integer():
        return fmt.num(v)
    return fmt.num(v, 1)


def legend_rows(metric_key: str, breaks: list[float], lang: str = "zh",
                has_nodata: bool = True, colours: list[str] | None = None) -> list[tuple[str, str]]:
    """(colour, label) per legend row: one per class (value ranges), then no data."""
    rows = []
    if breaks:
        cols = colours or palette(metric_key, len(breaks) - 1)
        for i, colour in enumerate(cols):
            a, b = breaks[i], breaks[i + 1]
            label = _edge(metric_key, a, lang) if a == b else \
                f"{_edge(metric_key, a, lang)} – {_edge(metric_key, b, lang)}"
            rows.append((colour, label))
    if has_nodata or not breaks:
        rows.append(("nodata", t("map.nodata", lang)))
    return rows


def legend_html(metric_key: str, breaks: list[float], lang: str = "zh", has_nodata: bool = True,
                title: str | None = None, colours: list[str] | None = None) -> str:
    """The legend's HTML; every text escaped."""
    m = metrics.METRICS[metric_key]
    unit = m.unit(lang)
    head = html.escape(title or metric_label(metric_key, lang)) + (f"（{html.escape(unit)}）" if lang == "zh" else
                                                 f" ({html.escape(unit)})")
    parts = [f'<div class="gm-legend-title">{head}</div>']
    for colour, label in legend_rows(metric_key, breaks, lang, has_nodata, colours):
        sw = '<i class="gm-sw gm-nodata"></i>' if colour == "nodata" else \
            f'<i class="gm-sw" style="background:{colour}"></i>'
        parts.append(f'<div class="gm-row">{sw}{html.escape(label)}</div>')
    note = {"higher": "map.legend_higher", "lower": "map.legend_lower",
            "neutral": "map.legend_neutral"}[m.direction]
    parts.append(f'<div class="gm-note">{html.escape(t(note, lang))}</div>')
    if colours:      # against target: the thresholds, as on the cards
        from dashboard import targets
        parts.append(f'<div class="gm-note">{html.escape(targets.rule(metric_key, lang) or "")}</div>')
    return "".join(parts)


# ---------------------------------------------------------------- script-safe JSON

def js(value) -> str:
    """JSON for inclusion inside <script>: no '<', '>', '&' or line separators left raw."""
    s = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def esc(text) -> str:
    return html.escape("" if text is None or (isinstance(text, float) and math.isnan(text))
                       else str(text))


# ---------------------------------------------------------------- folium elements

_CSS = f"""
<style>
html, body {{ overflow: hidden; }}  /* a scrolling iframe would move shapes between mousedown and up */
path.leaflet-interactive:focus:not(:focus-visible) {{ outline: none; }}
.leaflet-container {{ background: {BACKGROUND}; font-family: "Noto Sans CJK SC", "Microsoft YaHei",
  "PingFang SC", sans-serif; }}
.gm-legend {{ background: rgba(255,255,255,.93); padding: 8px 10px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 12px; line-height: 18px; color: #222; max-width: 260px; }}
.gm-legend-title {{ font-weight: 600; margin-bottom: 4px; }}
.gm-row {{ white-space: nowrap; }}
.gm-sw {{ display: inline-block; width: 18px; height: 12px; margin-right: 6px; vertical-align: -1px;
  border: 1px solid #777; }}
.gm-nodata {{ background: repeating-linear-gradient(45deg, #b8b8b8 0 2px, #e6e6e6 2px 5px);
  border-style: dashed; }}
.gm-note {{ margin-top: 4px; color: #555; font-size: 11px; }}
.gm-title {{ background: rgba(255,255,255,.93); padding: 6px 10px; border-radius: 4px;
  font-size: 15px; font-weight: 600; box-shadow: 0 1px 4px rgba(0,0,0,.3); color: #222; }}
.gm-label {{ background: none; border: none; }}
.gm-label span {{ display: inline-block; transform: translate(-50%, -50%); white-space: nowrap;
  font-size: 12px; font-weight: 600; color: #222;
  text-shadow: -1px -1px 0 #fff, 1px -1px 0 #fff, -1px 1px 0 #fff, 1px 1px 0 #fff; }}
.gm-label.gm-grid span {{ font-size: 10px; font-weight: 400; color: #333; }}
.gm-tip table {{ border-collapse: collapse; font-size: 12px; }}
.gm-tip th {{ text-align: left; font-weight: 400; color: #666; padding-right: 8px; }}
.gm-tip td {{ font-weight: 600; }}
</style>
"""


class Styles(MacroElement):
    """The map's own CSS (legend, labels, tooltips, plain background)."""
    _template = Template("{% macro header(this, kwargs) %}" + _CSS + "{% endmacro %}")


class Choropleth(folium.map.Layer):
    """Polygons coloured by class, with a tooltip built from escaped, compact properties.

    ``fc`` is a FeatureCollection whose properties are ``c`` (class, −1 = no data) and the
    tooltip fields; ``rows`` lists (label, property) pairs; ``lookup`` maps a property to a
    table of strings (village names repeated over thousands of grids are sent once).
    """
    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function(map) {
  var data = ({{ this.decode_js }})({{ this.data_js }});
  var pal = {{ this.palette_js }};
  var rows = {{ this.rows_js }};
  var look = {{ this.lookup_js }};
  var rank = {{ this.rank_js }};
  var pane = map.getPane({{ this.pane_js }}) || map.createPane({{ this.pane_js }});
  pane.style.zIndex = 410;
  var opts = {{ this.opts_js }};
  var rend = {% if this.canvas %}L.canvas({pane: {{ this.pane_js }}, tolerance: 2}){% else %}L.svg({pane: {{ this.pane_js }}}){% endif %};
  function style(f) {
    var c = f.properties.c;
    if (c < 0) return {fillColor: {% if this.canvas %}opts.nodata{% else %}'url(#gm-hatch)'{% endif %},
                       fillOpacity: 0.85, color: '#888', weight: opts.weight, dashArray: '3 3', opacity: 0.9};
    return {fillColor: pal[c], fillOpacity: opts.fillOpacity, color: opts.line, weight: opts.weight,
            opacity: 0.9};
  }
  function tip(layer) {
    var p = layer.feature.properties, h = '<table>';
    for (var i = 0; i < rows.length; i++) {
      var v = p[rows[i][1]];
      if (look[rows[i][1]]) v = look[rows[i][1]][v];
      if (rows[i][1] === 'r' && v) v = rank.tpl.replace('{rank}', v).replace('{total}', rank.total);
      if (v === undefined || v === null || v === '') continue;
      h += '<tr><th>' + rows[i][0] + '</th><td>' + v + '</td></tr>';
    }
    return h + '</table>';
  }
  var layer = L.geoJson(data, {
    pane: {{ this.pane_js }},
    style: style,
    renderer: rend
  });
  // one tooltip and one pair of listeners for the whole layer (not one per shape: 5,000 grids)
  layer.bindTooltip(function(l) { return tip(l); },
                    {sticky: true, className: 'gm-tip', direction: 'top', offset: [0, -8]});
  layer.on('mouseover', function(e) { e.layer.setStyle({weight: opts.weight + 2, color: '#111'}); });
  layer.on('mouseout', function(e) { layer.resetStyle(e.layer); });
  {% if not this.canvas %}
  layer.on('add', function() {
    // the no-data hatch: an SVG pattern in this pane's drawing
    var svg = rend._container, mk = L.SVG.create;
    if (!svg || svg.querySelector('#gm-hatch')) return;
    var defs = mk('defs'), pat = mk('pattern');
    pat.setAttribute('id', 'gm-hatch'); pat.setAttribute('patternUnits', 'userSpaceOnUse');
    pat.setAttribute('width', '6'); pat.setAttribute('height', '6');
    pat.setAttribute('patternTransform', 'rotate(45)');
    var bg = mk('rect');
    bg.setAttribute('width', '6'); bg.setAttribute('height', '6'); bg.setAttribute('fill', opts.nodata);
    var ln = mk('rect');
    ln.setAttribute('width', '2'); ln.setAttribute('height', '6'); ln.setAttribute('fill', '#9a9a9a');
    pat.appendChild(bg); pat.appendChild(ln); defs.appendChild(pat); svg.insertBefore(defs, svg.firstChild);
  });
  {% endif %}
  window.__gm = window.__gm || {};
  window.__gm[{{ this.key_js }}] = {count: data.features.length, layer: layer};
  return layer;
})({{ this._parent.get_name() }});
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, fc: dict, colours: list[str], rows: list[tuple[str, str]], name: str,
                 key: str, lookup: dict | None = None, canvas: bool = False, weight: float = 1.0,
                 line: str = "#555", fill_opacity: float = 0.78, show: bool = True,
                 rank_template: str = "{rank}"):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "Choropleth"
        self.decode_js = _DECODE_JS
        self.data_js = js(fc)
        self.palette_js = js(colours)
        self.rows_js = js([[esc(a), b] for a, b in rows])
        self.lookup_js = js(lookup or {})
        self.pane_js = js(f"gm{key}")
        self.key_js = js(key)
        self.opts_js = js({"nodata": NODATA_FILL, "weight": weight, "line": line,
                           "fillOpacity": fill_opacity})
        self.canvas = canvas
        self.count = len(fc["f"])
        total = sum(1 for _, p in fc["f"] if isinstance(p, dict) and p.get("r"))
        self.rank_js = js({"tpl": esc(rank_template), "total": total})


class Outline(folium.map.Layer):
    """Boundaries without fill that ignore the mouse (villages over a grid map, or grids)."""
    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.geoJson(({{ this.decode_js }})({{ this.data_js }}), {
  interactive: false, {% if this.canvas %}renderer: L.canvas(),{% endif %}
  style: function() { return {{ this.style_js }}; }
});
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, fc: dict, name: str, color: str = "#333", weight: float = 2.0,
                 dash: str | None = None, canvas: bool = False, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "Outline"
        self.decode_js = _DECODE_JS
        self.data_js = js(fc)
        self.style_js = js({"color": color, "weight": weight, "fill": False, "opacity": 0.9,
                            **({"dashArray": dash} if dash else {})})
        self.canvas = canvas


class Labels(folium.map.Layer):
    """Text labels (already escaped) at points; with ``min_zoom`` they appear only when zoomed
    in that far, and only those in view (a county's 5,000 grid names never all at once)."""
    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function(map) {
  var pts = {{ this.data_js }}, minZoom = {{ this.min_zoom }}, cls = {{ this.cls_js }};
  var group = L.layerGroup();
  function mk(p) {
    return L.marker([p[0], p[1]], {interactive: false, keyboard: false,
      icon: L.divIcon({className: 'gm-label ' + cls, html: '<span>' + p[2] + '</span>', iconSize: null})});
  }
  function refresh() {
    if (!map.hasLayer(group)) return;
    group.clearLayers();
    if (map.getZoom() < minZoom) return;
    var b = map.getBounds().pad(0.1), n = 0;
    for (var i = 0; i < pts.length && n < 600; i++) {
      if (b.contains([pts[i][0], pts[i][1]])) { group.addLayer(mk(pts[i])); n++; }
    }
  }
  if (minZoom <= 0) { for (var i = 0; i < pts.length; i++) group.addLayer(mk(pts[i])); }
  else { map.on('zoomend moveend', refresh); group.on('add', function() { setTimeout(refresh, 0); }); }
  return group;
})({{ this._parent.get_name() }});
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, points: list[tuple[float, float, str]], name: str, min_zoom: int = 0,
                 cls: str = "", show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "Labels"
        self.data_js = js([[round(a, 5), round(b, 5), s] for a, b, s in points])
        self.min_zoom = int(min_zoom)
        self.cls_js = js(cls)


class Points(JSCSSMixin, folium.map.Layer):
    """Dispute locations as clusters of small circles or as a heat layer."""
    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function() {
  var pts = {{ this.data_js }};
  {% if this.mode == 'heat' %}
  return L.heatLayer(pts, {radius: 18, blur: 15, minOpacity: 0.35});
  {% else %}
  var g = L.markerClusterGroup({showCoverageOnHover: false, maxClusterRadius: 50});
  for (var i = 0; i < pts.length; i++)
    g.addLayer(L.circleMarker(pts[i], {radius: 4, color: '#7a0177', weight: 1, fillOpacity: 0.8}));
  return g;
  {% endif %}
})();
{% if this.show %}{{ this.get_name() }}.addTo({{ this._parent.get_name() }});{% endif %}
{% endmacro %}
""")

    def __init__(self, latlons: list[tuple[float, float]], mode: str, name: str, base: str,
                 show: bool = False):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "Points"
        if mode not in ("cluster", "heat"):
            raise ValueError(mode)
        self.mode = mode
        self.data_js = js([[round(a, 5), round(b, 5)] for a, b in latlons])
        if mode == "heat":
            self.default_js = [("leaflet_heat", f"{base}/{ASSETS_JS['leaflet_heat']}")]
            self.default_css = []
        else:
            self.default_js = [("markercluster", f"{base}/{ASSETS_JS['markercluster']}")]
            self.default_css = [(k, f"{base}/{ASSETS_CSS[k]}")
                                for k in ("markercluster_css", "markercluster_default_css")]


class Control(MacroElement):
    """A Leaflet control holding fixed HTML (the legend, the title); the HTML is escaped text."""
    _template = Template("""
{% macro script(this, kwargs) %}
(function(map) {
  var c = L.control({position: {{ this.pos_js }}});
  c.onAdd = function() {
    var d = L.DomUtil.create('div', {{ this.cls_js }});
    d.innerHTML = {{ this.html_js }};
    L.DomEvent.disableClickPropagation(d);
    return d;
  };
  c.addTo(map);
})({{ this._parent.get_name() }});
{% endmacro %}
""")

    def __init__(self, html_text: str, cls: str, position: str = "bottomright"):
        super().__init__()
        self._name = "Control"
        self.html_js = js(html_text)
        self.cls_js = js(cls)
        self.pos_js = js(position)


class MapSetup(MacroElement):
    """Leaflet focuses the map on mousedown (for its keyboard handler); inside Streamlit's iframe
    that scrolls the whole page when the map is partly out of view, so the mouseup lands on
    another shape. Focus without scrolling instead. Also sets the map's maximum zoom and fits
    the view to ``bounds`` at once (no zoom animation to draw through)."""

    def __init__(self, bounds=None, max_zoom: int = 19):
        super().__init__()
        self._name = "MapSetup"
        self.max_zoom = int(max_zoom)
        self.bounds_js = js(bounds)

    _template = Template("""
{% macro script(this, kwargs) %}
(function(map) {
  map.setMaxZoom({{ this.max_zoom }});   // no tile layer sets it; clusters need it
  var b = {{ this.bounds_js }};
  // the shapes fitted into the part of the map the legend (bottom right, at most 260 px wide)
  // leaves free, before any layer is drawn: no village under the legend, no second drawing
  if (b) map.fitBounds(b, {animate: false, paddingTopLeft: [12, 12], paddingBottomRight: [290, 12]});
  L.control.scale({metric: true, imperial: false}).addTo(map);   // a Chinese map: metres only
  var kb = map.keyboard;
  if (!kb || !kb._onMouseDown) return;
  L.DomEvent.off(map._container, 'mousedown', kb._onMouseDown, kb);
  L.DomEvent.on(map._container, 'mousedown', function() {
    if (!kb._focused) map._container.focus({preventScroll: true});
  });
})({{ this._parent.get_name() }});
{% endmacro %}
""")


class Ready(MacroElement):
    """Sets ``window.__gm_ready`` once the layers are drawn (two animation frames later)."""
    _template = Template("""
{% macro script(this, kwargs) %}
requestAnimationFrame(function() { requestAnimationFrame(function() {
  window.__gm_ready = performance.now();
}); });
{% endmacro %}
""")


# ---------------------------------------------------------------- geometry → GeoJSON


def _display(gdf: gpd.GeoDataFrame, tolerance: float, tile_crs: str) -> np.ndarray:
    """Simplified (and, for GCJ-02 tiles, shifted) shapes; rounding happens in encode_layer."""
    geoms = geo.simplify(gdf.geometry, tolerance)
    return geo.shift_geoms(np.asarray(geoms.values, dtype=object), tile_crs)


def _encode_geom(g, scale: int) -> list:
    """Polygons → [[ring, ...], ...] with each ring a flat list of integers: the first point
    in units of 1/scale degree, then differences (a third of GeoJSON's bytes)."""
    polys = [g] if g.geom_type == "Polygon" else [p for p in getattr(g, "geoms", [])
                                                  if p.geom_type == "Polygon"]
    out = []
    for p in polys:
        rings = []
        for ring in [p.exterior, *p.interiors]:
            q = np.rint(np.asarray(ring.coords)[:, :2] * scale).astype(np.int64)
            d = np.vstack([q[:1], np.diff(q, axis=0)])
            keep = np.ones(len(d), dtype=bool)
            keep[1:] = (d[1:] != 0).any(axis=1)      # drop repeats left by rounding
            rings.append(d[keep].ravel().tolist())
        out.append(rings)
    return out


def encode_layer(geoms, props: list[dict], decimals: int) -> dict:
    """A layer as sent to the browser: {"s": scale, "f": [[geometry, properties], ...]}.

    The same as ``_encode_geom`` on each shape, computed for all rings at once (numpy):
    5,000 grids take a few milliseconds instead of a few hundred."""
    scale = 10 ** decimals
    props = list(props)
    keep = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    if not keep:
        return {"s": scale, "f": []}
    arr = np.empty(len(keep), dtype=object)
    arr[:] = [geoms[i] for i in keep]
    parts, part_of = shapely.get_parts(arr, return_index=True)
    poly = shapely.get_type_id(parts) == 3             # Polygon (a member of a MultiPolygon too)
    parts, part_of = parts[poly], part_of[poly]
    rings, ring_of = shapely.get_rings(parts, return_index=True)   # exterior, then interiors
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    q = np.rint(coords * scale).astype(np.int64)
    start = np.ones(len(q), dtype=bool)
    start[1:] = coord_of[1:] != coord_of[:-1]
    d = q.copy()
    d[1:] -= q[:-1]
    d[start] = q[start]
    kept = start | (d != 0).any(axis=1)                 # drop repeats left by rounding
    flat = d[kept].ravel().tolist()
    ends = np.cumsum(np.bincount(coord_of[kept], minlength=len(rings))) * 2
    begins = np.concatenate([[0], ends[:-1]])
    out: list[list] = [[] for _ in keep]                # per shape: [[ring, ...] per polygon]
    polys: list[list] = [[] for _ in parts]
    for r, (b, e) in enumerate(zip(begins.tolist(), ends.tolist())):
        polys[ring_of[r]].append(flat[b:e])
    for k, rs in zip(part_of.tolist(), polys):
        out[k].append(rs)
    return {"s": scale, "f": [[enc, props[i]] for i, enc in zip(keep, out)]}


def decode_layer(data: dict) -> dict:
    """The GeoJSON FeatureCollection an encoded layer stands for (what the browser rebuilds)."""
    s = data["s"]
    feats = []
    for enc, p in data["f"]:
        polys = []
        for rings in enc:
            out = []
            for r in rings:
                a = np.cumsum(np.asarray(r, dtype=np.int64).reshape(-1, 2), axis=0) / s
                out.append(a.tolist())
            polys.append(out)
        feats.append({"type": "Feature", "properties": p,
                      "geometry": {"type": "MultiPolygon", "coordinates": polys}})
    return {"type": "FeatureCollection", "features": feats}


_DECODE_JS = """function(d) {
    var f = d.f, s = d.s, out = [];
    for (var i = 0; i < f.length; i++) {
      var polys = f[i][0].map(function(rings) { return rings.map(function(r) {
        var c = [], x = 0, y = 0;
        for (var j = 0; j < r.length; j += 2) { x += r[j]; y += r[j + 1]; c.push([x / s, y / s]); }
        return c; }); });
      out.push({type: 'Feature', properties: f[i][1], geometry: {type: 'MultiPolygon', coordinates: polys}});
    }
    return {type: 'FeatureCollection', features: out};
  }"""


def _label_points(gdf: gpd.GeoDataFrame, names, tile_crs: str) -> list[tuple[float, float, str]]:
    out = []
    for g, n in zip(gdf.geometry, names):
        if g is None or g.is_empty:
            continue
        p = g.representative_point()
        lon, lat = (p.x, p.y) if tile_crs == "wgs84" else geo.wgs84_to_gcj02(p.x, p.y)
        out.append((lat, lon, esc(n)))
    return out


def payload_bytes(m: folium.Map) -> int:
    """Bytes of the map's data as sent to the browser: shapes, outlines, labels and points."""
    return sum(len(el.data_js.encode()) for el in m._children.values()
               if isinstance(el, (Choropleth, Outline, Labels, Points)))


def _ranks_of(df, metric_key) -> list:
    """The frame's ``rank`` column (queries.map.assemble: the registry's rank rule, small numbers
    after the others), or ranks by value alone for a frame without it."""
    if "rank" in df:
        return [None if fmt.is_none(r) else int(r) for r in df["rank"]]
    return ranks(list(df["value"]), metric_key)


def _props_village(df, metric_key, breaks, lang):
    rk = _ranks_of(df, metric_key)
    out = []
    for j, ((_, r), rank) in enumerate(zip(df.iterrows(), rk)):
        out.append({"i": int(r["id"]), "c": class_of(r["value"], breaks), "v": esc(r["name"]),
                    "n": esc(fmt.num(r.get("grids"))) if not fmt.is_none(r.get("grids")) else "",
                    "h": esc(fmt.num(r["households"])),
                    "x": esc(tooltip_value(metric_key, r["value"], _den(df, j), lang)),
                    "r": rank})
    return out


def _props_grid(df, metric_key, breaks, lang, vnames: dict):
    has_value = "value" in df and df["value"].notna().any()
    rk = _ranks_of(df, metric_key) if has_value else [None] * len(df)
    out = []
    vid = df["village_id"].tolist()
    gid = df["id"].tolist()
    vals = df["value"].tolist() if "value" in df else [None] * len(df)
    for i, (name, leader, hh, val, rank) in enumerate(zip(df["name"], df["leader"], df["households"],
                                                          vals, rk)):
        out.append({"i": int(gid[i]), "c": class_of(val, breaks) if has_value else -1,
                    "v": vnames[vid[i]], "g": esc(name), "l": esc(leader),
                    "h": esc(fmt.num(hh)), "x": esc(tooltip_value(metric_key, val, _den(df, i), lang)),
                    "r": rank})
    return out


# ---------------------------------------------------------------- the builder

def _localise(el, base: str) -> None:
    el.default_js = [("leaflet", f"{base}/{ASSETS_JS['leaflet']}")]
    el.default_css = [("leaflet_css", f"{base}/{ASSETS_CSS['leaflet_css']}")]


def base_map(shown: gpd.GeoSeries, lang: str = "zh", tiles_url: str | None = None,
             tile_crs: str = "wgs84", asset_base: str = STATIC_URL, width: int = WIDTH,
             height: int = HEIGHT, controls: bool = True, tiles_attr: str = ""):
    """The empty offline map fitted to the ``shown`` shapes (WGS-84): local Leaflet, our styles,
    the view set before any layer, the optional intranet basemap. Returns (map, fit zoom,
    simplification tolerance, coordinate decimals) for the layers drawn on it."""
    if tile_crs not in geo.TILE_CRSES:
        raise ValueError(f"tile_crs must be one of {geo.TILE_CRSES}")
    shown = shown.dropna()
    bounds = tuple(gpd.GeoSeries(shown.values, crs=geo.CRS).total_bounds) if len(shown) else \
        (115.0, 28.0, 116.0, 29.0)
    zoom_fit = geo.fit_zoom(bounds, width, height)
    tol = geo.tolerance_for_zoom(zoom_fit + 2)
    dec = geo.decimals_for_tolerance(tol)
    lon0, lat0 = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    if tile_crs == "gcj02":
        lon0, lat0 = geo.wgs84_to_gcj02(lon0, lat0)

    m = folium.Map(location=[lat0, lon0], zoom_start=zoom_fit, tiles=None,
                   attribution_control=bool(tiles_url), control_scale=False, zoom_snap=0.5,
                   zoom_control=controls,
                   width="100%", height="100%")
    _localise(m, asset_base)
    Styles().add_to(m)
    # the final view, set before any layer and without animation: shapes are drawn once
    MapSetup([[bounds[1], bounds[0]], [bounds[3], bounds[2]]] if tile_crs == "wgs84" else
             _gcj_bounds(bounds)).add_to(m)
    if tiles_url:
        folium.TileLayer(tiles=tiles_url, attr=tiles_attr or "&nbsp;", name=t("map.layer_tiles", lang),
                         overlay=False, control=False, max_zoom=19).add_to(m)
    return m, zoom_fit, tol, dec


def default_classes(metric_key: str) -> str:
    """The classes a map opens with: against the target where the figure has one."""
    from dashboard import targets
    return "target" if targets.get(metric_key) is not None else "quantile"


def class_colours(values: list, metric_key: str, classes: str = "quantile", k: int = N_CLASSES):
    """(breaks, colours, legend colours) of a choropleth: the legend names the target's
    thresholds only when classes are "target" (legend colours None otherwise)."""
    if classes == "target":
        colours = target_palette(metric_key)
        return target_breaks(values, metric_key), colours, colours
    breaks = classify(values, k, classes)
    return breaks, palette(metric_key, len(breaks) - 1) if breaks else [], None


def finish(m: folium.Map, metric_key: str, breaks: list[float], values: list, lang: str = "zh",
           legend_colours: list[str] | None = None, title: str | None = None,
           controls: bool = True) -> None:
    """The legend, the title, the layer switch and the drawn signal, once the layers are on."""
    has_nodata = any(fmt.is_none(v) for v in values) or not values
    Control(legend_html(metric_key, breaks, lang, has_nodata, colours=legend_colours), "gm-legend").add_to(m)
    if title:
        Control(esc(title), "gm-title", position="topright").add_to(m)
    if controls:
        folium.LayerControl(collapsed=False, position="topleft" if title else "topright").add_to(m)
    Ready().add_to(m)


def build_map(layers_data: dict, metric_key: str | None = None, level: str = "village",
              lang: str = "zh", classes: str = "quantile", tiles_url: str | None = None,
              tile_crs: str = "wgs84", points: str = "cluster", asset_base: str = STATIC_URL,
              k: int = N_CLASSES, title: str | None = None, width: int = WIDTH,
              height: int = HEIGHT, labels: bool = True, tiles_attr: str = "",
              controls: bool = True, points_shown: bool = False) -> folium.Map:
    """The grid map for ``layers_data`` (see ``dashboard.queries.map.layers``).

    level: which layer is coloured ("village" or "grid"; the other is drawn as outlines).
    classes: "quantile", "jenks" or "target" (the figure must have one). tiles_url: an intranet tile template, None = no
    basemap; tile_crs "gcj02" shifts the drawn geometry onto GCJ-02 tiles.
    points: "cluster", "heat" or "none" for dispute locations (a layer off by default).
    asset_base: URL prefix of static/vendor (the Streamlit path by default).
    controls: zoom buttons and the layer switch (off for images); points_shown: the dispute
    layer switched on at first.
    """
    metric_key = metric_key or layers_data.get("metric") or "resolution_rate"
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    if points not in POINT_MODES:
        raise ValueError(f"points must be one of {POINT_MODES}")
    m_def = metrics.METRICS[metric_key]
    villages: gpd.GeoDataFrame = layers_data["villages"]
    grids: gpd.GeoDataFrame = layers_data.get("grids")
    if grids is None:
        grids = gpd.GeoDataFrame({"id": [], "village_id": [], "village": [], "name": [],
                                  "leader": [], "households": [], "value": []},
                                 geometry=gpd.GeoSeries([], crs=geo.CRS), crs=geo.CRS)
    if level == "grid" and "grid" not in m_def.levels:
        raise ValueError(f"{metric_key} has no grid-level value")

    m, zoom_fit, tol, dec = base_map(pd.concat([villages.geometry, grids.geometry]), lang, tiles_url,
                                     tile_crs, asset_base, width, height, controls, tiles_attr)
    coloured = villages if level == "village" else grids
    values = [] if "value" not in coloured else list(coloured["value"])
    breaks, colours, legend_colours = class_colours(values, metric_key, classes, k)
    vname_by_id = {int(i): esc(n) for i, n in zip(villages["id"], villages["name"])}
    for vid, vn in zip(grids["village_id"], grids["village"]):
        vname_by_id.setdefault(int(vid), esc(vn))

    v_geoms = _display(villages, tol, tile_crs)
    g_geoms = _display(grids, tol, tile_crs) if len(grids) else []
    n_shapes = len(coloured)
    canvas = n_shapes > CANVAS_ABOVE

    val_label = metric_label(metric_key, lang)
    rank_tpl = t("map.rank_of", lang)      # filled in the browser: ranks travel as numbers
    if level == "village":
        props = _props_village(villages, metric_key, breaks, lang)
        rows = [(t("map.tip_village", lang), "v"), (t("map.tip_grids", lang), "n"),
                (t("map.tip_households", lang), "h"), (val_label, "x"), (t("map.tip_rank", lang), "r")]
        if len(grids):
            Outline(encode_layer(g_geoms, [0] * len(g_geoms), dec), t("map.layer_grids", lang),
                    color="#666", weight=0.8, dash="2 3", canvas=len(grids) > CANVAS_ABOVE
                    ).add_to(m)
        Choropleth(encode_layer(v_geoms, props, dec), colours, rows, t("map.layer_villages", lang),
                   key="village", canvas=canvas, weight=1.2, rank_template=rank_tpl).add_to(m)
    else:
        ids = sorted(vname_by_id)
        index = {vid: i for i, vid in enumerate(ids)}
        props = _props_grid(grids, metric_key, breaks, lang, {vid: index[vid] for vid in ids})
        rows = [(t("map.tip_village", lang), "v"), (t("map.tip_grid", lang), "g"),
                (t("map.tip_leader", lang), "l"), (t("map.tip_households", lang), "h"),
                (val_label, "x"), (t("map.tip_rank", lang), "r")]
        Choropleth(encode_layer(g_geoms, props, dec), colours, rows, t("map.layer_grids", lang),
                   key="grid", canvas=canvas, weight=0.6, line="#666",
                   lookup={"v": [vname_by_id[v] for v in ids]}, rank_template=rank_tpl).add_to(m)
        Outline(encode_layer(v_geoms, [0] * len(v_geoms), dec), t("map.layer_villages", lang),
                color="#222", weight=2.2, canvas=canvas).add_to(m)

    if labels:
        Labels(_label_points(villages, villages["name"], tile_crs), t("map.layer_village_labels", lang),
               cls="gm-village").add_to(m)
        if len(grids):
            Labels(_label_points(grids, grids["name"], tile_crs), t("map.layer_grid_labels", lang),
                   min_zoom=zoom_fit + 2, cls="gm-grid").add_to(m)

    pts = layers_data.get("points")
    if points != "none" and pts is not None and len(pts):
        lon, lat = pts["lon"].to_numpy(float), pts["lat"].to_numpy(float)
        if tile_crs == "gcj02":
            lon, lat = geo.wgs84_to_gcj02(lon, lat)
        Points(list(zip(np.atleast_1d(lat).tolist(), np.atleast_1d(lon).tolist())), points,
               t("map.layer_points", lang), asset_base, show=points_shown or points == "heat").add_to(m)

    finish(m, metric_key, breaks, values, lang, legend_colours, title, controls)
    m.gm_info = {"metric": metric_key, "level": level, "breaks": breaks, "colours": colours,
                 "features": n_shapes, "canvas": canvas, "zoom": zoom_fit, "decimals": dec,
                 "tolerance": tol}
    return m


def _gcj_bounds(b):
    x0, y0 = geo.wgs84_to_gcj02(b[0], b[1])
    x1, y1 = geo.wgs84_to_gcj02(b[2], b[3])
    return [[y0, x0], [y1, x1]]


# ---------------------------------------------------------------- clicks → profile

def click_target(clicked, layers_data: dict, level: str = "village",
                 tile_crs: str = "wgs84", conn=None) -> dict | None:
    """What a click on the map opens: {"village": id, "grid": id or None}, or None.

    ``clicked`` is streamlit-folium's ``last_clicked`` ({"lat", "lng"}), in the
    display datum; it is taken back to WGS-84 and hit-tested against the stored shapes:
    by the database when ``conn`` is given (``dashboard.spatial``: the PostGIS index where
    there is one), else against the drawn layers, among the villages on the map either way.
    """
    if not clicked or clicked.get("lat") is None or clicked.get("lng") is None:
        return None
    lon, lat = geo.unshift_point(float(clicked["lng"]), float(clicked["lat"]), tile_crs)
    if conn is not None:
        from dashboard import spatial
        shown = [int(v) for v in layers_data["villages"]["id"]]
        if level == "grid":
            gid = spatial.locate(conn, lon, lat, "grid", shown)
            if gid is not None:
                g = layers_data["grids"]
                vid = g.loc[g["id"] == gid, "village_id"]
                if len(vid):
                    return {"village": int(vid.iloc[0]), "grid": int(gid)}
        vid = spatial.locate(conn, lon, lat, "village", shown)
        return None if vid is None else {"village": int(vid), "grid": None}
    grids = layers_data.get("grids")
    if level == "grid" and grids is not None and len(grids):
        gid = geo.feature_at(grids, lon, lat)
        if gid is not None:
            vid = grids.loc[grids["id"] == gid, "village_id"].iloc[0]
            return {"village": int(vid), "grid": int(gid)}
    vid = geo.feature_at(layers_data["villages"], lon, lat)
    return None if vid is None else {"village": int(vid), "grid": None}


def profile_query(target: dict | None) -> dict[str, str]:
    """Query parameters of the village page for a click target ({} when nothing was hit)."""
    if not target:
        return {}
    q = {"village": str(target["village"])}
    if target.get("grid") is not None:
        q["grid"] = str(target["grid"])
    return q


# ---------------------------------------------------------------- standalone HTML

_INLINE_BASE = "gm-vendor:"


def _data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}.get(path.suffix,
                                                                                     "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _inline_css(rel: str) -> str:
    path = VENDOR_DIR / rel
    css = path.read_text(encoding="utf-8")

    def sub(mo):
        target = mo.group(2)
        if target.startswith(("data:", "#")):
            return mo.group(0)
        return f"url({_data_uri((path.parent / target).resolve())})"
    return re.sub(r"url\((['\"]?)([^)'\"]+)\1\)", sub, css)


def inline_assets(page: str) -> str:
    """Replace every script/stylesheet link to static/vendor (built with the inline base)
    with the file's content; images referenced by the CSS become data: URIs."""
    def js_sub(mo):
        code = (VENDOR_DIR / mo.group(1)).read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f"<script>{code}</script>"

    def css_sub(mo):
        return f"<style>{_inline_css(mo.group(1))}</style>"
    b = re.escape(_INLINE_BASE)
    page = re.sub(r'<script src="' + b + r'/([^"]+)"></script>', js_sub, page)
    page = re.sub(r'<link rel="stylesheet" href="' + b + r'/([^"]+)"\s*/?>', css_sub, page)
    return page


def html_of(m: folium.Map) -> str:
    return m.get_root().render()


def map_html_selfcontained(source, period=None, metric_key: str = "resolution_rate",
                           level: str = "village", lang: str = "zh", village_ids=None,
                           **build_kw) -> str:
    """The map as one HTML file with every asset inlined (opens offline, from a USB stick).

    ``source``: a layers dict (``queries.map.layers``), or an Engine/Connection with ``period``.
    """
    data = _layers_from(source, period, metric_key, village_ids)
    build_kw.setdefault("tiles_url", None)
    m = build_map(data, metric_key, level=level, lang=lang, asset_base=_INLINE_BASE, **build_kw)
    return inline_assets(html_of(m))


def _layers_from(source, period, metric_key, village_ids) -> dict:
    """A layers dict as is; otherwise query it from an Engine or a Connection."""
    if isinstance(source, dict):
        return source
    import sqlalchemy as sa
    from dashboard.queries import map as qmap
    if period is None:
        raise ValueError("period is required when source is a database")
    if isinstance(source, sa.engine.Engine):
        with source.connect() as conn:
            return qmap.layers(conn, period, metric_key, village_ids)
    return qmap.layers(source, period, metric_key, village_ids)


# ---------------------------------------------------------------- headless Chromium

BROWSER_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync"]


def browser_path(path: str | None = None) -> str | None:
    """The Chromium to draw images with (argument, else DASHBOARD_CHROMIUM), if it exists."""
    from dashboard import settings
    p = path or settings.get("DASHBOARD_CHROMIUM")
    return p if p and Path(p).exists() else None


def render_in_browser(page_html: str, chromium_path: str | None = None, width: int = 1280,
                      height: int = 800, screenshot: bool = True,
                      timeout_s: float = 60) -> tuple[bytes | None, float] | None:
    """Open a self-contained map page in headless Chromium with the network cut off.

    Returns (PNG or None, seconds from the start of navigation to the layers drawn, as the
    page's own clock measures them), or None without a browser.
    """
    exe = browser_path(chromium_path)
    if exe is None:
        return None
    import tempfile
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "map.html"
        f.write_text(page_html, encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=BROWSER_ARGS)
            try:
                ctx = browser.new_context(viewport={"width": width, "height": height},
                                          device_scale_factor=1)
                ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                    ("file:", "data:", "blob:")) else r.abort())
                page = ctx.new_page()
                page.goto(f.as_uri(), wait_until="commit")
                page.wait_for_function("window.__gm_ready !== undefined", timeout=timeout_s * 1000)
                # performance.now() counts from the start of navigation: parse, decode, draw
                seconds = float(page.evaluate("window.__gm_ready")) / 1000.0
                png = page.screenshot(type="png") if screenshot else None
            finally:
                browser.close()
    return png, seconds


def map_png(source, period=None, metric_key: str = "resolution_rate", level: str = "village",
            lang: str = "zh", village_ids=None, chromium_path: str | None = None,
            width: int = 1280, height: int = 800, title: str | None = None,
            **build_kw) -> bytes | None:
    """The map as a PNG (for slides and reports), drawn by headless Chromium offline.

    ``source``: a layers dict or an Engine/Connection (then ``period`` is needed).
    Returns None when no Chromium is installed (DASHBOARD_CHROMIUM).
    """
    if browser_path(chromium_path) is None:
        return None
    build_kw.setdefault("controls", False)
    page = map_html_selfcontained(source, period, metric_key, level, lang, village_ids,
                                  title=title, width=width, height=height, **build_kw)
    out = render_in_browser(page, chromium_path, width, height, screenshot=True)
    return None if out is None else out[0]


# ---------------------------------------------------------------- measurement

def bench_payload(n_grids: int = 5000, layers_data: dict | None = None, level: str = "grid",
                  metric_key: str = "resolution_rate", chromium_path: str | None = None,
                  seed: int = 0) -> dict:
    """Payload and draw time of a map (default: a synthetic county of ``n_grids`` grids).

    Returns {"features", "bytes" (shapes, outlines and labels), "html_bytes" (the page as the
    Streamlit component receives it, assets excluded), "build_seconds", "render_seconds"
    (None without Chromium)}.
    """
    if layers_data is None:
        grids = geo.synthetic_grids(n_grids, seed=seed)
        rng = np.random.default_rng(seed)
        vals = rng.uniform(0.3, 1.0, len(grids))
        vals[rng.random(len(grids)) < 0.03] = np.nan
        grids["value"] = [None if np.isnan(v) else float(v) for v in vals]
        vgeom = grids.dissolve(by="village_id", as_index=False, method="coverage")[["village_id", "geometry"]]
        hh = grids.groupby("village_id")["households"].sum()
        villages = gpd.GeoDataFrame({"id": vgeom["village_id"], "name": [f"村{i}" for i in vgeom["village_id"]],
                                     "households": vgeom["village_id"].map(hh).to_numpy(),
                                     "grids": 40, "value": None},
                                    geometry=vgeom.geometry.values, crs=geo.CRS)
        layers_data = {"metric": metric_key, "villages": villages, "grids": grids, "points": None}
    t0 = time.perf_counter()
    m = build_map(layers_data, metric_key, level=level, asset_base=_INLINE_BASE, points="none")
    page = html_of(m)
    build_s = time.perf_counter() - t0
    out = render_in_browser(inline_assets(page), chromium_path, WIDTH, HEIGHT, screenshot=False)
    return {"features": m.gm_info["features"], "bytes": payload_bytes(m),
            "html_bytes": len(page.encode()), "build_seconds": round(build_s, 3),
            "render_seconds": None if out is None else round(out[1], 3),
            "canvas": m.gm_info["canvas"], "decimals": m.gm_info["decimals"]}
