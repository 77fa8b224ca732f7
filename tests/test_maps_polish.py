"""Map polish: a metric-only scale bar, the shapes fitted beside the legend (never under it),
and 热力图 drawn as soon as it is chosen."""
import re

from dashboard import maps
from tests.test_maps import tiny


def test_scale_bar_is_metric_only():
    page = maps.html_of(maps.build_map(tiny(), "resolution_rate", lang="zh"))
    assert "L.control.scale({metric: true, imperial: false})" in page
    assert not re.search(r"L\.control\.scale\(\s*\)", page)     # folium's own: metres and miles


def test_heat_layer_is_shown_when_chosen_cluster_stays_a_switch():
    heat = maps.html_of(maps.build_map(tiny(), "resolution_rate", points="heat"))
    name = re.search(r"var (points_\w+) = \(function\(\) \{\s*var pts", heat).group(1)
    assert f"{name}.addTo(" in heat and "L.heatLayer" in heat
    cluster = maps.html_of(maps.build_map(tiny(), "resolution_rate", points="cluster"))
    name = re.search(r"var (points_\w+) = \(function\(\) \{\s*var pts", cluster).group(1)
    assert f"{name}.addTo(" not in cluster


def test_shapes_are_fitted_beside_the_legend(browser_page):
    page_html = maps.map_html_selfcontained(tiny(), metric_key="resolution_rate", level="village", lang="zh")
    page = browser_page
    page.set_viewport_size({"width": 900, "height": 560})
    page.set_content(page_html, wait_until="load")
    page.wait_for_function("window.__gm_ready !== undefined", timeout=60_000)
    box = page.evaluate("""() => {
      const lg = document.querySelector('.gm-legend').getBoundingClientRect();
      const ps = [...document.querySelectorAll('.leaflet-overlay-pane path')].map(p => p.getBoundingClientRect())
                 .filter(r => r.width > 0);
      return {legend_left: lg.left, legend_top: lg.top, right: Math.max(...ps.map(r => r.right)), n: ps.length,
              scale: document.querySelector('.leaflet-control-scale').innerText};
    }""")
    assert box["n"] > 0 and box["right"] <= box["legend_left"], box
    assert "mi" not in box["scale"] and re.search(r"\d+\s*(m|km)", box["scale"]), box
