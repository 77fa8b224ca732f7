"""Streamlit glue for the grid map: controls, the map in a fragment, clicks → village profile.

The map lives in an ``st.fragment`` and ``st_folium`` returns only ``last_clicked``
(the map's click position; a layer's own click event is lost when the page scrolls
between mousedown and mouseup, the map's never is): panning and zooming never rerun
anything, a click reruns the fragment alone, and a click on a village or grid opens the village page
(``?village=<id>``, plus ``&grid=<id>``) through ``st.switch_page`` — an in-app
navigation, not a page reload. The hit test is ``dashboard.maps.click_target``.

The layer data travels inside the component's arguments rather than as a separate static
GeoJSON file: it is compact (delta-encoded, about 2 MB for 5,000 grids), the fragment resends
it only when the filters change (when the data changes anyway), and a file would have to be
written per period, metric and user scope.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit_folium import st_folium

from dashboard import fmt, maps, metrics, settings
from dashboard.queries import map as qmap
from dashboard.ui import common as ui
from dashboard.ui import downloads as dl
from dashboard.ui import nav

HEIGHT = 650
CLICK_KEY = "_map_handled_click"
VILLAGE_PAGE = "pages/village.py"


@dataclass(frozen=True)
class MapOptions:
    metric: str
    level: str
    classes: str
    points: str


def asset_base() -> str:
    """URL of static/vendor as the browser sees it (honours server.baseUrlPath)."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{maps.STATIC_URL}" if base else maps.STATIC_URL


def tiles() -> tuple[str | None, str]:
    url = settings.get("DASHBOARD_TILE_URL") or None
    crs = settings.get("DASHBOARD_TILE_CRS") or "wgs84"
    return url, crs if crs in ("wgs84", "gcj02") else "wgs84"


def classes_radio(where, metric: str, key: str) -> str:
    """The 分级方法 choice: quantile, jenks, and against the target where the figure has one
    (then the default: maps.default_classes)."""
    from dashboard import targets
    methods = [c for c in maps.CLASS_METHODS if c != "target" or targets.get(metric) is not None]
    if st.session_state.get(key) not in methods:
        st.session_state[key] = maps.default_classes(metric)
    return where.radio(ui.t("map.classes"), methods, horizontal=True, key=key,
                       format_func=lambda v: ui.t(f"map.{v}"))


def controls() -> MapOptions:
    """Metric, level, classes and dispute-point widgets above the map (state in session)."""
    lang = ui.lang()
    keys = list(metrics.MAPPABLE)
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    metric = c1.selectbox(ui.t("map.metric"), keys, index=keys.index("resolution_rate"),
                          format_func=lambda k: maps.metric_label(k, lang), key="map_metric")
    level = c2.radio(ui.t("map.level"), list(maps.LEVELS), horizontal=True, key="map_level",
                     format_func=lambda v: ui.t(f"map.level_{v}"))
    classes = classes_radio(c3, metric, "map_classes")
    points = c4.radio(ui.t("map.points"), ["cluster", "heat", "none"], horizontal=True,
                      key="map_points", format_func=lambda v: ui.t(f"map.points_{v}"))
    if level == "grid" and not qmap.grid_metric(metric):
        st.caption(ui.t("map.grid_only_note"))
        level = "village"
    return MapOptions(metric, level, classes, points)


_shapes = ui.cached(qmap.shapes)          # per villages: the same for every period and metric
_values = ui.cached(qmap.values)          # per period and villages: every metric at once
_points = ui.cached(qmap.dispute_points)  # per period and villages


def _layers(conn, period, metric, village_ids):
    ids = None if village_ids is None else tuple(sorted(set(village_ids)))
    return qmap.assemble(_shapes(ids), _values(period, ids), metric, _points(period, ids))


# what qmap.layers returns, made from the cached parts: another metric or level queries nothing
layers = ui.cached(_layers)


def _kw(opt: MapOptions, lang: str) -> dict:
    return dict(metric_key=opt.metric, level=opt.level, lang=lang, classes=opt.classes,
                tile_crs=tiles()[1], points=opt.points)


def _built(conn, period, metric, village_ids, level, lang, classes, tile_crs, points, tiles_url, base):
    """The folium map drawn and rendered once (the layers come from their own cache)."""
    m = maps.build_map(layers(period, metric, village_ids), metric_key=metric, level=level, lang=lang,
                       classes=classes, tile_crs=tile_crs, points=points, tiles_url=tiles_url,
                       asset_base=base)
    m.get_root().render()   # what st_folium(render=True) would do on every rerun
    return m


# keyed on the data version, period, villages and every drawing option: a rerun (a click, another
# widget) does no geometry, classification or encoding work; each call gets its own copy
built_map = ui.cached(_built)


def _village_page_available() -> bool:
    return any(p[1] == VILLAGE_PAGE for p in nav.available(ui.current_user().get("role")))


def new_click(clicked, key: str) -> bool:
    """Whether ``clicked`` (st_folium's last_clicked) is a click not yet acted on: st_folium
    returns the last click at every rerun, and a rerun must not open the page again."""
    if not clicked:
        st.session_state.pop(key, None)   # a fresh map: the same spot may be clicked again
        return False
    stamp = (clicked.get("lat"), clicked.get("lng"))
    if st.session_state.get(key) == stamp:
        return False
    st.session_state[key] = stamp
    return True


def handle_click(clicked, data, opt: MapOptions) -> None:
    """Open the village profile for a new click; remember it so a rerun does not repeat it."""
    if not new_click(clicked, CLICK_KEY):
        return
    with ui.engine().connect() as conn:   # one point query: no cache needed
        target = maps.click_target(clicked, data, opt.level, tiles()[1], conn)
    query = maps.profile_query(target)
    if not query:
        return
    if _village_page_available():
        st.switch_page(VILLAGE_PAGE, query_params=query)
    name = ui.village_names().get(target["village"], "")
    st.info(ui.t("map.open_profile", name=fmt.md(name)))


@st.fragment
def map_fragment(f: ui.Filters, opt: MapOptions) -> None:
    lang = ui.lang()
    data = layers(f.period, opt.metric, f.village_ids)
    if data["villages"].geometry.isna().all() and data["grids"].geometry.isna().all():
        st.info(ui.t("map.no_geometry"))
        return
    url, crs = tiles()
    m = built_map(f.period, opt.metric, f.village_ids, opt.level, lang, opt.classes, crs, opt.points,
                  url, asset_base())
    out = st_folium(m, key="grid_map", height=HEIGHT, use_container_width=True,
                    returned_objects=["last_clicked"], render=False)
    handle_click((out or {}).get("last_clicked"), data, opt)
    st.caption(ui.t("map.click_hint"))


def downloads(f: ui.Filters, opt: MapOptions) -> None:
    """Offline HTML and PNG of the map, generated only when asked for."""
    lang = ui.lang()
    kw = _kw(opt, lang)
    title = f"{f.period.label(lang)} · {maps.metric_label(opt.metric, lang)}"
    stem = f"map_{opt.metric}_{f.period.start}_{f.period.end}"

    def page() -> str:
        return maps.map_html_selfcontained(layers(f.period, opt.metric, f.village_ids),
                                           title=title, **kw)

    def png() -> bytes:
        return maps.map_png(layers(f.period, opt.metric, f.village_ids), title=title, **kw) or b""

    c1, c2 = st.columns(2)
    dl.button(c1, ui.t("map.download_html"), page, file_name=f"{stem}.html",
                     mime="text/html", key="map_dl_html")
    if maps.browser_path():
        dl.button(c2, ui.t("map.download_png"), png, file_name=f"{stem}.png",
                         mime="image/png", key="map_dl_png")
    else:
        c2.caption(ui.t("map.png_unavailable"))


def caption(f: ui.Filters, opt: MapOptions) -> str:
    lang = ui.lang()
    return ui.t("map.caption", period=f.period.label(lang),
                metric=maps.metric_label(opt.metric, lang), classes=ui.t(f"map.{opt.classes}"))
