"""县级总览's map: each township one shape, coloured by the figure the county table ranks by.

The shapes are ``geo.load_townships`` (villages dissolved per township); the figures are the
rows of ``queries.county.townships``, so the map and the table cannot disagree. Classes,
colours, legend, tooltip formatting and the offline folium map are ``dashboard.maps``'s.
A click is hit-tested here (``click_target``) and answered by the township's code, the
identifier the county page's links carry.
"""
from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from dashboard import fmt, geo, maps, metrics
from dashboard.i18n import t


def layer(shapes: gpd.GeoDataFrame, table: pd.DataFrame, metric_key: str) -> gpd.GeoDataFrame:
    """The townships of ``table`` with their shape: id, code, name, villages, value, den (the
    rate's count, for the tooltip), rank (the table's; None without a value), geometry.
    Townships of ``shapes`` missing from the table (not visible) are left out."""
    m = metrics.METRICS[metric_key]
    rows = table.set_index("township_id")
    out = shapes[shapes["id"].isin(rows.index)].copy()
    r = rows.loc[out["id"]]
    out["villages"] = r["villages"].to_numpy()
    values = [None if fmt.is_none(v) else float(v) for v in r[metric_key]]
    out["value"] = pd.Series(values, index=out.index, dtype=object)
    den = m.denominator if m.kind == "rate" and m.denominator in rows else None
    out["den"] = list(r[den]) if den else None
    out["rank"] = pd.Series([None if v is None else int(k) for v, k in zip(values, r["rank"])],
                            index=out.index, dtype=object)
    return out.reset_index(drop=True)


def build(data: gpd.GeoDataFrame, metric_key: str, lang: str = "zh", classes: str | None = None,
          tiles_url: str | None = None, tile_crs: str = "wgs84",
          asset_base: str = maps.STATIC_URL, width: int = maps.WIDTH,
          height: int = maps.HEIGHT) -> folium.Map:
    """The county map of ``layer(...)``: townships coloured, named, with a tooltip of name,
    villages, the figure (``maps.tooltip_value``) and the table's rank."""
    classes = classes or maps.default_classes(metric_key)
    m, _zoom, tol, dec = maps.base_map(data.geometry, lang, tiles_url, tile_crs, asset_base,
                                       width, height)
    values = list(data["value"])
    breaks, colours, legend_colours = maps.class_colours(values, metric_key, classes)
    props = [{"i": int(r.id), "c": maps.class_of(r.value, breaks), "v": maps.esc(r.name),
              "n": maps.esc(fmt.num(r.villages)),
              "x": maps.esc(maps.tooltip_value(metric_key, r.value, r.den, lang)),
              "r": None if fmt.is_none(r.rank) else int(r.rank)}
             for r in data.itertuples()]
    rows = [(t("county.township", lang), "v"), (t("county.villages", lang), "n"),
            (maps.metric_label(metric_key, lang), "x"), (t("map.tip_rank", lang), "r")]
    shown = maps._display(data, tol, tile_crs)
    maps.Choropleth(maps.encode_layer(shown, props, dec), colours, rows,
                    t("county.layer_townships", lang), key="township", weight=1.6,
                    rank_template=t("map.rank_of", lang)).add_to(m)
    maps.Labels(maps._label_points(data, data["name"], tile_crs), t("county.layer_labels", lang),
                cls="gm-village").add_to(m)
    maps.finish(m, metric_key, breaks, values, lang, legend_colours)
    m.gm_info = {"metric": metric_key, "breaks": breaks, "colours": colours,
                 "classes": [maps.class_of(v, breaks) for v in values], "features": len(data)}
    return m


def click_target(clicked, data: gpd.GeoDataFrame, tile_crs: str = "wgs84") -> str | None:
    """The code of the township under streamlit-folium's ``last_clicked`` ({"lat", "lng"} in
    the display datum), among those drawn; None off the map's shapes."""
    if not clicked or clicked.get("lat") is None or clicked.get("lng") is None:
        return None
    lon, lat = geo.unshift_point(float(clicked["lng"]), float(clicked["lat"]), tile_crs)
    code = geo.feature_at(data, lon, lat, id_col="code")
    return None if code is None else str(code)
