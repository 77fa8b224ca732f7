"""县级总览 County view: townships side by side with the registry's figures, ranked, 环比/同比,
and on a map coloured by the ranking figure; a township's link or shape opens its dashboard."""
import streamlit as st

from dashboard import fmt, metrics
from dashboard.queries import county
from dashboard.ui import common as ui
from dashboard.ui import widgets as w

ui.page_header("county.title")
f = ui.filters(show_villages=False)
lang = ui.lang()
w.caption(f)
tws = ui.visible_townships()
if len(tws) < 2:
    st.info(ui.t("county.only_county"))
    st.stop()
# imported past the guard: folium and geopandas load only for someone who gets the map
from dashboard.ui import county_map as cmap  # noqa: E402
st.caption(ui.t("county.intro", metric=metrics.METRICS[county.RANK_BY].name(lang)))
ids = tuple(t["id"] for t in tws)
df = cmap.table(f.period, ids)
w.table(df, county.SPEC, "county_townships", f)
# click-through: each township's own overview (the URL carries its code, never its name)
st.markdown(" · ".join(f"[{r.rank}. {fmt.md(r.township)}](overview?township={r.code}&period={ui.url_period(f)})"
                       for r in df.itertuples()))
try:
    cmap.fragment(f, ids)
except Exception as exc:  # noqa: BLE001 - one helper shows every error the same way
    ui.show_error(exc)
