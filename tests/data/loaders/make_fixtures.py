"""Regenerate the binary fixtures of this folder: .venv/bin/python tests/data/loaders/make_fixtures.py

The CSV fixtures are written by hand; the .xlsx, .geojson and .zip ones come from here so that
their content is reviewable as code.
"""
from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
LON, LAT = 115.90, 28.54


def square(i: int, j: int, size: float = 0.01) -> dict:
    x, y = LON + i * size, LAT + j * size
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size],
                                                [x, y + size], [x, y]]]}


GRIDS = [("红旗村", "第1网格", "王建国", 1, 300), ("红旗村", "第2网格", "李秀英", 1, 280),
         ("红旗村", "第3网格", "张国强", 2, 280), ("建设村", "第1网格", "刘海燕", 1, 320),
         ("建设村", "第2网格", "陈志强", 1, 320), ("东湖社区", "第1网格", "杨桂兰", 2, 2100)]


def grids_geojson() -> None:
    feats = []
    for k, (v, name, leader, workers, hh) in enumerate(GRIDS):
        feats.append({"type": "Feature", "geometry": square(k % 3, k // 3),
                      "properties": {"所属村": v, "网格名称": name, "网格长": leader,
                                     "网格员人数": workers, "户数": hh}})
    (HERE / "grids.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats},
                                                   ensure_ascii=False, indent=1), encoding="utf-8")


def grids_gcj02_shapefile() -> None:
    """The same grids of 红旗村 as a zipped Shapefile in GCJ-02 lon/lat (declared WGS-84 .prj)."""
    import geopandas as gpd
    from shapely.geometry import shape
    from loaders.geo import wgs84_to_gcj02
    import shapely
    import numpy as np
    rows = [g for g in GRIDS if g[0] == "红旗村"]
    geoms = []
    for k, _ in enumerate(rows):
        g = shape(square(k % 3, k // 3))
        geoms.append(shapely.transform(g, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1]))))
    gdf = gpd.GeoDataFrame({"VILLAGE": [r[0] for r in rows], "NAME": [r[1] for r in rows],
                            "LEADER": [r[2] for r in rows]}, geometry=geoms, crs="EPSG:4326")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        gdf.to_file(Path(tmp) / "grids.shp", encoding="utf-8")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(Path(tmp).iterdir()):
                z.write(p, p.name)
    (HERE / "grids_hongqi_gcj02.zip").write_bytes(buf.getvalue())


def disputes_xlsx() -> None:
    """建设村's ledger: merged title, 序号, real date cells, a blank row, a formula-looking note, a footer."""
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2024年"
    ws["A1"] = "建设村矛盾纠纷排查化解台账（2024年度）"
    ws.merge_cells("A1:J1")
    ws.append(["序号", "案件编号", "所属网格", "纠纷类型", "登记日期", "当事人数", "化解状态",
               "化解日期", "化解层级", "备注"])
    ws.append([1, "JS-X-001", "第1网格", "宅基地纠纷", datetime(2024, 2, 3), 2, "已化解",
               datetime(2024, 2, 20), "村级", None])
    ws.append([2, "JS-X-002", "第2网格", "赡养纠纷", datetime(2024, 5, 6), 3, "办理中", None, None,
               '=HYPERLINK("http://example.invalid","详情")'])
    ws.append([None] * 10)
    ws.append([3, "JS-X-003", "2", "邻里纠纷", 45500, 2.0, "已受理", None, None, "序列号日期"])
    ws.append(["合计", None, None, None, None, 7])
    ws.append(["填表人：张某", None, None, "审核人：王某"])
    other = wb.create_sheet("说明")
    other["A1"] = "本表按季度更新"
    wb.save(HERE / "disputes_merged_title.xlsx")


def visits_xlsx_named_sheet() -> None:
    import openpyxl
    wb = openpyxl.Workbook()
    first = wb.active
    first.title = "封面"
    first["A1"] = "代表走访记录"
    ws = wb.create_sheet("走访")
    ws.append(["记录编号", "村（社区）", "代表姓名", "代表类型", "走访日期", "走访形式", "接待选民人次",
               "收集意见建议（条）", "解决问题（个）", "转办问题（个）"])
    ws.append(["ZF-X-1", "红旗村", "王德胜", "党代表", datetime(2024, 8, 1), "上门走访", 5, 2, 1, 0])
    wb.save(HERE / "visits_named_sheet.xlsx")


if __name__ == "__main__":
    import sys
    sys.path.insert(0, str(HERE.parent.parent.parent))
    grids_geojson()
    grids_gcj02_shapefile()
    disputes_xlsx()
    visits_xlsx_named_sheet()
    print("fixtures written")
