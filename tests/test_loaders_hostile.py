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


# ---------------------------------------------------------------- size bombs (issue 17: 1, 2)
# Each runs `import_file` (dry run) in a child process whose address space is capped at
# 600 MB with resource.setrlimit(RLIMIT_AS): the interpreter, pandas and the reading all fit,
# or the child dies. RLIMIT_AS counts reserved address space, not memory used: pyarrow's
# default allocator reserves ~1 GB it never touches, and every thread's malloc arena 64 MB,
# so the child uses the system allocator and two arenas (what it *uses* is ru_maxrss, which
# is asserted as well).
LIMIT_MB = 600
CHILD = r"""
import json, resource, sys, time
lim = int(sys.argv[1]) * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
sys.path.insert(0, sys.argv[2])
import loaders
from dashboard.db import migrate
engine = migrate(sys.argv[3])
data = open(sys.argv[4], "rb").read()
t0 = time.perf_counter()
res = loaders.import_file(engine, data, sys.argv[5], kind=sys.argv[6] or None, dry_run=True)
print(json.dumps({"seconds": time.perf_counter() - t0, "refused": res.refused,
                  "rows_read": res.rows_read, "codes": [e["code"] for e in res.errors][:5],
                  "messages": [e["message"] for e in res.errors][:5],
                  "sheets_read": res.sheets_read,
                  # its own peak (VmHWM: this image's, while ru_maxrss keeps the forked parent's
                  # size across exec) and that of any reader child it ran
                  "peak_kb": max([int(l.split()[1]) for l in open("/proc/self/status")
                                  if l.startswith("VmHWM:")]
                                 + [resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss])},
                 ensure_ascii=False))
"""


def run_limited(tmp_path, engine, data: bytes, name: str, kind: str = "") -> tuple[dict, int]:
    """(the child's answer, its peak RSS in MB)."""
    import json
    import os
    import subprocess
    import sys
    f = tmp_path / name
    f.write_bytes(data)
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "2",
           "OPENBLAS_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", CHILD, str(LIMIT_MB), str(Path(__file__).parent.parent),
                        engine.url.render_as_string(hide_password=False), str(f), name, kind],
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    # the child says its own peak: the parent's RUSAGE_CHILDREN is the record of every child the
    # test session ever ran (a Streamlit server of an earlier test), not this one's
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return out, out.pop("peak_kb") // 1024


def xfd_xlsx(rows: int, head: list[str], cells: str = "XFD") -> bytes:
    """A real .xlsx of a header, two ledger rows, then ``rows`` rows each holding one number
    in column XFD (the last of 16,384); its declared dimension is A1:XFD<last row>."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

    def c(ref, v):
        return f'<c r="{ref}" t="inlineStr"><is><t>{v}</t></is></c>'
    letters = [R._col_letter(i + 1) for i in range(len(head))]
    good = [["HQ-1", "红旗村", "邻里纠纷", "2024-03-05", "已受理"],
            ["HQ-2", "红旗村", "土地纠纷", "2024-03-06", "已受理"]]
    body = [f'<row r="1">{"".join(c(f"{l}1", h) for l, h in zip(letters, head))}</row>']
    for i, g in enumerate(good, start=2):
        body.append(f'<row r="{i}">{"".join(c(f"{l}{i}", v) for l, v in zip(letters, g))}</row>')
    body += [f'<row r="{i}"><c r="{cells}{i}"><v>1</v></c></row>' for i in range(4, rows + 4)]
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {ns}><dimension ref="A1:XFD{rows + 3}"/>'
             f'<sheetData>{"".join(body)}</sheetData></worksheet>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://'
                   'schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
                   'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default '
                   'Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                   '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
                   'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://'
                   'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
                   f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook {ns} '
                   f'xmlns:r="{rel}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
                   '</workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships '
                   'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship '
                   f'Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return buf.getvalue()


HEAD5 = ["案件编号", "村（社区）", "纠纷类型", "登记日期", "化解状态"]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("rows,size_kb", [(60_000, 290), (2_000, 11)])
def test_cells_in_column_xfd_read_sparsely_under_the_memory_limit(registry, tmp_path, rows, size_kb):
    data = xfd_xlsx(rows, HEAD5)
    assert size_kb <= len(data) // 1024 <= size_kb + 20      # ~300 KB and ~12 KB, as reported
    out, peak = run_limited(tmp_path, registry, data, "xfd.xlsx", "disputes")
    # the two ledger rows are read; the stray cells, one per row in a column without a header,
    # are one cell each, not 16,384
    assert (out["refused"], out["codes"], out["rows_read"]) == ("", [], 2), out
    assert peak < LIMIT_MB, peak


@pytest.mark.timeout(900)
def test_a_sheet_spread_over_too_many_columns_is_refused_in_chinese(registry, tmp_path):
    head = HEAD5 + [f"列{i}" for i in range(300)]       # 305 columns: A to KS (11 * 26 + 19)
    out, peak = run_limited(tmp_path, registry, xfd_xlsx(10, head), "wide.xlsx", "disputes")
    assert out["refused"] == "too_many_columns"
    assert out["messages"][0] == ("工作表“Sheet1”的内容分布超过 256 列（最远到 KS 列），不像台账："
                                  "请删除表格右侧多余的单元格（或只复制台账区域到新表）后再上传。")
    assert peak < LIMIT_MB


@pytest.mark.timeout(900)
def test_xls_with_the_whole_grid_in_use_is_refused_not_read_densely(registry, tmp_path):
    """.xls: calamine builds a dense grid (65,536 x 256 here: ~1 GB); its child process is
    capped, dies, and the clerk gets a refusal."""
    import xlwt
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("S")
    for j, h in enumerate(HEAD5):
        ws.write(0, j, h)
    for i in range(1, 65536, 1):
        ws.write(i, 255, 1)
    buf = io.BytesIO()
    wb.save(buf)
    out, peak = run_limited(tmp_path, registry, buf.getvalue(), "wide.xls", "disputes")
    assert out["refused"] == "sheet_too_big", out
    assert out["messages"][0].startswith("工作表的范围过大")
    assert peak < LIMIT_MB


def ring_geojson(n: int, twist: bool) -> bytes:
    """One boundary of ``n`` vertices; ``twist`` mirrors its second half, so it crosses itself."""
    import json
    import math
    pts = []
    for i in range(n):
        a = 2 * math.pi * i / n
        r = 0.01 if i % 2 else 0.02
        sx = -1 if twist and i >= n // 2 else 1
        pts.append([round(116.4 + sx * r * math.cos(a), 7), round(39.9 + r * math.sin(a), 7)])
    pts.append(pts[0])
    return json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"所属村": "红旗村", "网格名称": "第1网格"},
        "geometry": {"type": "Polygon", "coordinates": [pts]}}]}, separators=(",", ":")).encode()


@pytest.mark.timeout(900)
def test_million_vertex_self_intersecting_boundary_refused_quickly(registry, tmp_path):
    data = ring_geojson(1_000_000, twist=True)
    assert len(data) > 20_000_000
    out, peak = run_limited(tmp_path, registry, data, "boundary.geojson", "grids")
    assert out["codes"] == ["geometry_too_complex"]
    assert out["messages"] == ["这一行的边界有 1,000,001 个顶点，超过 50,000 个："
                               "请在 GIS 软件中简化后再上传。"]
    assert out["seconds"] < 60 and peak < LIMIT_MB, (out, peak)


def test_big_self_intersecting_boundary_not_repaired_small_one_repaired(registry):
    import time
    t0 = time.perf_counter()
    res = loaders.import_file(registry, ring_geojson(20_000, twist=True), "b.geojson",
                              kind="grids", dry_run=True)
    assert time.perf_counter() - t0 < 30       # make_valid alone took 84 s on this ring
    assert [e["message"] for e in res.errors] == [
        "这一行的边界自相交，顶点有 20,001 个，太多无法自动修复：请在 GIS 软件中修复（如“修复几何”）后再上传。"]
    res = loaders.import_file(registry, ring_geojson(2_000, twist=True), "s.geojson",
                              kind="grids", dry_run=True)
    assert res.ok and res.updated == 1, res.errors   # repaired (make_valid), 第1网格 updated


def test_geojson_with_200000_property_keys_is_refused_in_linear_time(registry):
    import json
    import time
    props = {f"k{i}": i for i in range(200_000)}
    props.update({"所属村": "红旗村", "网格名称": "第1网格"})
    data = json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [
            [[116.4, 39.9], [116.41, 39.9], [116.41, 39.91], [116.4, 39.9]]]}}]}).encode()
    t0 = time.perf_counter()
    res = loaders.import_file(registry, data, "keys.geojson", kind="grids", dry_run=True)
    assert time.perf_counter() - t0 < 20
    assert res.refused == "too_many_properties"
    assert res.errors[0]["message"] == ("边界文件的属性字段超过 1000 个：请在 GIS 软件中只保留名称、"
                                        "编码等字段后再导出。")


def test_property_names_collected_in_linear_time():
    """Distinct names over many features: one dict look-up each (it was a list search)."""
    import time
    from loaders import geo
    props = [{f"k{(i * 7 + j) % 900}": j for j in range(50)} for i in range(2_000)]
    t0 = time.perf_counter()
    t = geo._table(props, [None] * len(props), "geojson")
    assert len(t.headers) == 900 and len(t.frame) == 2_000
    assert t.frame.iloc[0, 0] == "0" and t.frame.iloc[1, 0] == ""   # k0 only in feature 0's
    assert time.perf_counter() - t0 < 10
