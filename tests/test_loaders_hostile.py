"""Hostile and odd input: always a structured refusal or a clean import, never a traceback or a
partial write. Includes property-based tests (hypothesis) over mutated and random files."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

import loaders
from dashboard.db import schema as S
from loaders import read as R

D = Path(__file__).resolve().parent / "data" / "loaders"
GOOD = (D / "disputes_utf8_bom.csv").read_bytes()


def counts(engine):
    with engine.connect() as c:
        return tuple(c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                     for t in (S.village, S.grid, S.dispute, S.volunteer_activity, S.rep_visit,
                               S.import_batch, S.batch_change, S.township))


@pytest.fixture
def registry(engine):
    for f in ("villages.csv", "grids.geojson"):
        assert loaders.import_file(engine, (D / f).read_bytes(), f).ok
    return engine


def refused(res, code):
    return res.refused == code and res.batch_id is None and res.errors and \
        res.errors[0]["message"] and not res.errors[0]["message"].startswith("loader.")


@pytest.mark.parametrize("data,name,code", [
    (b"", "empty.csv", "empty"),
    (b"   \r\n\r\n", "blank.csv", "empty"),
    (bytes(range(256)) * 40, "junk.csv", "not_text"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 300, "photo.csv", "not_text"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500, "old.xls", "bad_xls"),  # damaged .xls
    (b"this is not a zip", "book.xlsx", "bad_xlsx"),
    (b"PK\x03\x04garbage", "book.xlsx", "bad_xlsx"),
    ("标题\n甲,乙,丙\n1,2,3\n".encode(), "x.csv", "no_header"),
    (b'{"type": "FeatureCollection", "features": [', "b.geojson", "bad_geojson"),
    (b"[" * 100000, "deep.geojson", "bad_geojson"),
])
def test_refusals(engine, data, name, code):
    before = counts(engine)
    res = loaders.import_file(engine, data, name)
    assert refused(res, code), res.errors
    assert counts(engine) == before


def test_zip_bomb_checked_before_openpyxl(engine, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
    data = buf.getvalue()
    assert len(data) < 200_000

    def boom(*a, **k):
        raise AssertionError("openpyxl must not open a zip bomb")
    import openpyxl
    monkeypatch.setattr(openpyxl, "load_workbook", boom)
    assert refused(loaders.import_file(engine, data, "bomb.xlsx"), "zip_bomb")


def test_word_document_named_xlsx(engine):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<w/>")
    assert refused(loaders.import_file(engine, buf.getvalue(), "x.xlsx"), "docx")


def test_huge_cell_is_a_row_error(registry):
    data = ("案件编号,村（社区）,纠纷类型,登记日期,化解状态,备注\n"
            f"A-1,红旗村,邻里纠纷,2024-03-05,已受理,{'长' * 100000}\n").encode()
    res = loaders.import_file(registry, data, "huge.csv")
    assert [(e["row"], e["code"]) for e in res.errors] == [(2, "too_long")]
    assert len(res.errors[0]["value"]) < 300


def test_utf16_tab_separated_excel_unicode_text(registry):
    text = "案件编号\t村（社区）\t纠纷类型\t登记日期\t化解状态\nU-1\t红旗村\t邻里纠纷\t2024/3/5\t已受理\n"
    res = loaders.import_file(registry, text.encode("utf-16"), "unicode.txt")
    assert (res.encoding, res.inserted, res.errors) == ("utf-16", 1, [])


def test_gb18030_only_characters(registry):
    text = "案件编号,村（社区）,纠纷类型,登记日期,化解状态,调解人\nG-1,红旗村,邻里纠纷,2024-03-05,已受理,𠀀先生\n"
    res = loaders.import_file(registry, text.encode("gb18030"), "g.csv")
    assert (res.encoding, res.inserted, res.errors) == ("gb18030", 1, [])


def test_ragged_rows_and_quoted_newlines(registry):
    text = ("案件编号,村（社区）,纠纷类型,登记日期,化解状态,备注\n"
            'R-1,红旗村,邻里纠纷,2024-03-05,已受理,"第一行\n第二行"\n'
            "R-2,红旗村,邻里纠纷,2024-03-06\n"
            "R-3,红旗村,邻里纠纷,2024-03-07,已受理,,,,\n")
    res = loaders.import_file(registry, text.encode(), "ragged.csv")
    assert [(e["row"], e["code"]) for e in res.errors] == [(3, "required")]


def test_read_header_search_counts_title_rows():
    raw = R.read("说明\n\n标题\n案件编号,村（社区）,登记日期\nA,红旗村,2024-1-1\n".encode(), "a.csv")
    assert raw.header_row == 4 and list(raw.rownum) == [5]


# ---------------------------------------------------------------- property-based

def _outcome_is_clean(engine, before, res):
    """Either a clean import (ok, batch written) or a structured refusal with nothing written."""
    assert res.refused != "internal", res.errors
    if res.ok:
        assert res.batch_id is not None
    else:
        assert res.batch_id is None and res.errors
        for e in res.errors:
            assert set(e) >= {"row", "column", "value", "message"}
            assert isinstance(e["message"], str) and not e["message"].startswith("loader.err")
        assert counts(engine) == before


_settings = settings(max_examples=int(__import__("os").environ.get("LOADERS_EXAMPLES", "40")), deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])


@_settings
@given(data=st.binary(max_size=2000), name=st.sampled_from(["a.csv", "a.xlsx", "a.geojson",
                                                            "a.zip", "a.txt"]))
def test_random_bytes(registry, data, name):
    before = counts(registry)
    _outcome_is_clean(registry, before, loaders.import_file(registry, data, name))


@_settings
@given(cuts=st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.binary(max_size=8)),
                     min_size=1, max_size=6))
def test_mutated_good_file(registry, cuts):
    data = bytearray(GOOD)
    for pos, junk in cuts:
        data[pos:pos + len(junk)] = junk
    before = counts(registry)
    res = loaders.import_file(registry, bytes(data), "m.csv", dry_run=False)
    _outcome_is_clean(registry, before, res)
    if res.ok:  # leave the database as it was for the next example
        loaders.undo_batch(registry, res.batch_id)


cell = st.one_of(st.text(max_size=12), st.sampled_from(
    ["红旗村", "建设村", "东湖社区", "第1网格", "已化解", "化解中", "村级", "2024-03-05", "2024年3月5日",
     "45397", "-1", "２", "=1+2", "<b>x</b>", "", "合计", "填表人：张三"]))


@_settings
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=10), max_size=8),
       header=st.permutations(["案件编号", "村（社区）", "所属网格", "纠纷类型", "登记日期",
                               "化解状态", "化解日期", "化解层级", "当事人数", "序号"]),
       enc=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "utf-16"]))
def test_random_ledgers(registry, rows, header, enc):
    import csv
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    try:
        data = buf.getvalue().encode(enc)
    except UnicodeEncodeError:
        data = buf.getvalue().encode("gb18030")
    before = counts(registry)
    res = loaders.import_file(registry, data, "r.csv")
    _outcome_is_clean(registry, before, res)
    if res.ok:
        loaders.undo_batch(registry, res.batch_id)


def test_projected_shapefile_is_reprojected_to_wgs84(registry, tmp_path):
    """A Shapefile in a projected CRS (Web Mercator, as many GIS exports are) lands in WGS-84."""
    import json
    import geopandas as gpd
    from shapely.geometry import shape
    feats = json.loads((D / "grids.geojson").read_text(encoding="utf-8"))["features"][:2]
    gdf = gpd.GeoDataFrame({"VILLAGE": [f["properties"]["所属村"] for f in feats],
                            "NAME": [f["properties"]["网格名称"] for f in feats]},
                           geometry=[shape(f["geometry"]) for f in feats], crs="EPSG:4326")
    gdf.to_crs(3857).to_file(tmp_path / "g.shp", encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in tmp_path.glob("g.*"):
            z.write(p, p.name)
    res = loaders.import_file(registry, buf.getvalue(), "grids_3857.zip")
    assert (res.kind, res.rows_read, res.errors) == ("grids", 2, [])
    assert res.unchanged == 2  # the same boundaries as the GeoJSON after reprojection
    buf2 = io.BytesIO()
    with zipfile.ZipFile(buf2, "w") as z:
        for p in tmp_path.glob("g.*"):
            if p.suffix != ".prj":
                z.write(p, p.name)
    assert refused(loaders.import_file(registry, buf2.getvalue(), "noprj.zip"), "shp_no_prj")


def test_coordinate_conversions_round_trip():
    import numpy as np
    from loaders import geo
    lon, lat = np.array([115.92, 116.397, 121.47]), np.array([28.55, 39.909, 31.23])
    glon, glat = geo.wgs84_to_gcj02(lon, lat)
    assert np.all(np.abs(glon - lon) > 1e-4)            # GCJ-02 is hundreds of metres off
    back = geo.gcj02_to_wgs84(glon, glat)
    assert np.allclose(back, (lon, lat), atol=1e-7)      # the inverse is within a centimetre
    # BD-09 of a GCJ-02 point, and back to WGS-84
    import math
    x, y = glon, glat
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * math.pi * 3000 / 180)
    th = np.arctan2(y, x) + 0.000003 * np.cos(x * math.pi * 3000 / 180)
    blon, blat = z * np.cos(th) + 0.0065, z * np.sin(th) + 0.006
    assert np.allclose(geo.to_wgs84(blon, blat, "bd09"), (lon, lat), atol=2e-6)
    assert np.allclose(geo.to_wgs84(lon, lat, "wgs84"), (lon, lat))
