"""Streamlit glue for the county view's map: townships coloured, a click opens the township.

As on the grid map (``dashboard.ui.map``): the map lives in an ``st.fragment``, ``st_folium``
returns only ``last_clicked``, and a click on a township opens its overview through
``st.switch_page`` with ``?township=<code>&period=…`` — the query the page's text links carry.
"""
from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from dashboard import county_map, geo, metrics
from dashboard.queries import county
from dashboard.ui import common as ui
from dashboard.ui import map as map_ui

OVERVIEW = "pages/overview.py"
CLICK_KEY = "_county_map_handled_click"
HEIGHT = 520

# the dissolve (a county's 500 villages) once per data version and set of townships, whatever
# the period; the figures are the county table's own cached rows
_shapes = ui.cached(geo.load_townships)
table = ui.cached(county.townships)


def _layer(conn, period, township_ids):
    return county_map.layer(_shapes(township_ids), table(period, township_ids), county.RANK_BY)


layer = ui.cached(_layer)


def _built(conn, period, township_ids, lang, classes, tile_crs, tiles_url, base):
    """The folium map drawn and rendered once per data version, period, townships and options."""
    m = county_map.build(layer(period, township_ids), county.RANK_BY, lang, classes,
                         tiles_url=tiles_url, tile_crs=tile_crs, asset_base=base)
    m.get_root().render()   # what st_folium(render=True) would do on every rerun
    return m


built = ui.cached(_built)


@st.fragment
def fragment(f: ui.Filters, township_ids: tuple) -> None:
    data = layer(f.period, township_ids)
    if data.geometry.isna().all():
        st.info(ui.t("county.no_geometry"))
        return
    classes = map_ui.classes_radio(st, county.RANK_BY, "county_map_classes")
    url, crs = map_ui.tiles()
    m = built(f.period, township_ids, ui.lang(), classes, crs, url, map_ui.asset_base())
    out = st_folium(m, key="county_map", height=HEIGHT, use_container_width=True,
                    returned_objects=["last_clicked"], render=False)
    clicked = (out or {}).get("last_clicked")
    if map_ui.new_click(clicked, CLICK_KEY):
        code = county_map.click_target(clicked, data, crs)
        if code is not None:
            st.switch_page(OVERVIEW, query_params={ui.URL_TOWNSHIP: code,
                                                   ui.URL_PERIOD: ui.url_period(f)})
    st.caption(ui.t("county.map_caption", metric=metrics.METRICS[county.RANK_BY].name(ui.lang())))
