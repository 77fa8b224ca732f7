"""Workbooks as clerks have them: every sheet of the kind, notes sheets anywhere, .xls and .ods,
the template's example row, files of another kind named as such (issue 13: 4, 5, 8, 9)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

import loaders
from dashboard.db import schema as S
from loaders import read as R

ROOT = Path(__file__).resolve().parent.parent
D = Path(__file__).resolve().parent / "data" / "loaders"
HEAD = ["案件编号", "村（社区）", "纠纷类型", "登记日期", "化解状态"]
NOTES = [["填写说明"], ["1. 每个季度一张表"], ["2. 日期写成 2024-03-05"]]


def quarter_rows(q: int) -> list[list]:
    """Two cases of 红旗村 reported in quarter q (2024)."""
    return [[f"HQ-2024-{q}{i}", "红旗村", "邻里纠纷", date(2024, 3 * q - 1, 5 + i), "已受理"]
            for i in (1, 2)]


def xlsx_book(sheets: list[tuple[str, list[list]]]) -> bytes:
    import xlsxwriter
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    datef = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets:
        ws = wb.add_worksheet(name)
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                if isinstance(v, date):
                    ws.write_datetime(i, j, __import__("datetime").datetime(v.year, v.month, v.day),
                                      datef)
                else:
                    ws.write(i, j, v)
    wb.close()
    return buf.getvalue()


def xls_book(sheets: list[tuple[str, list[list]]]) -> bytes:
    import xlwt
    wb = xlwt.Workbook(encoding="utf-8")
    datef = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for name, rows in sheets:
        ws = wb.add_sheet(name)
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                if isinstance(v, date):
                    ws.write(i, j, v, datef)
                else:
                    ws.write(i, j, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def ods_book(sheets: list[tuple[str, list[list]]]) -> bytes:
    """A minimal OpenDocument spreadsheet (what WPS / LibreOffice save as .ods)."""
    from xml.sax.saxutils import escape
    tables = []
    for name, rows in sheets:
        trs = []
        for r in rows:
            cells = []
            for v in r:
                if isinstance(v, date):
                    cells.append(f'<table:table-cell office:value-type="date" office:date-value='
                                 f'"{v.isoformat()}"><text:p>{v.isoformat()}</text:p></table:table-cell>')
                elif isinstance(v, (int, float)):
                    cells.append(f'<table:table-cell office:value-type="float" office:value="{v}">'
                                 f'<text:p>{v}</text:p></table:table-cell>')
                else:
                    cells.append(f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}'
                                 '</text:p></table:table-cell>')
            trs.append("<table:table-row>" + "".join(cells) + "</table:table-row>")
        tables.append(f'<table:table table:name="{escape(name)}">' + "".join(trs) + "</table:table>")
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               '<office:body><office:spreadsheet>' + "".join(tables) +
               '</office:spreadsheet></office:body></office:document-content>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet",
                   compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml",
                   '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                   'opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" '
                   'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                   '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type='
                   '"text/xml"/></manifest:manifest>')
    return buf.getvalue()


def quarters_book(writer=xlsx_book) -> bytes:
    sheets = [("填写说明", NOTES)]
    for q, name in enumerate(("一季度", "二季度", "三季度", "四季度"), start=1):
        sheets.append((name, [["红旗村矛盾纠纷登记台账"], HEAD] + quarter_rows(q)))
    return writer(sheets)


@pytest.fixture
def registry(engine):
    for f in ("villages.csv", "grids.geojson"):
        assert loaders.import_file(engine, (D / f).read_bytes(), f).ok
    return engine


def case_nos(engine) -> list[str]:
    with engine.connect() as c:
        return sorted(c.execute(sa.select(S.dispute.c.case_no)).scalars())


ALL_CASES = sorted(f"HQ-2024-{q}{i}" for q in range(1, 5) for i in (1, 2))


@pytest.mark.parametrize("writer,name", [(xlsx_book, "台账.xlsx"), (xls_book, "台账.xls"),
                                         (ods_book, "台账.ods")], ids=["xlsx", "xls", "ods"])
def test_every_quarter_read_and_the_notes_sheet_skipped(registry, writer, name):
    res = loaders.import_file(registry, quarters_book(writer), name, kind="disputes")
    assert res.ok, res.errors
    assert (res.rows_read, res.inserted) == (8, 8)
    assert res.sheets_read == ["一季度", "二季度", "三季度", "四季度"]
    assert [(s["sheet"], s["reason"]) for s in res.sheets_skipped] == [("填写说明", "notes")]
    assert res.sheets_skipped[0]["message"] == "说明或选项表，不是数据"
    assert case_nos(registry) == ALL_CASES
    assert res.format == name.rsplit(".", 1)[1]


def test_kind_detected_from_the_sheets_and_other_sheets_listed(registry):
    visits = [["代表姓名", "代表类型", "村（社区）", "走访日期", "走访形式"],
              ["张秀英", "人大代表", "红旗村", date(2024, 3, 5), "入户走访"]]
    data = xlsx_book([("一季度", [HEAD] + quarter_rows(1)), ("走访", visits),
                      ("二季度", [HEAD] + quarter_rows(2)), ("空表", [])])
    res = loaders.import_file(registry, data, "book.xlsx", dry_run=True)
    assert res.ok and res.kind == "disputes" and res.rows_read == 4
    assert res.sheets_read == ["一季度", "二季度"]
    assert [(s["sheet"], s["reason"], s["message"]) for s in res.sheets_skipped] == [
        ("走访", "other_kind", "看起来是代表走访台账，不是所选的台账"), ("空表", "empty", "空表")]


def test_problem_rows_name_their_sheet(registry):
    bad = quarter_rows(2)
    bad[1][3] = "2024-13-45"
    data = xlsx_book([("说明", NOTES), ("一季度", [["标题"], HEAD] + quarter_rows(1)),
                      ("二季度", [HEAD] + bad)])
    res = loaders.import_file(registry, data, "book.xlsx", kind="disputes")
    assert res.refused == "" and res.batch_id is None
    assert [(e["sheet"], e["row"], e["column"], e["value"]) for e in res.errors] == [
        ("二季度", 3, "登记日期", "2024-13-45")]
    assert res.summary()["errors"][0]["sheet"] == "二季度"
    assert case_nos(registry) == []


def test_sheet_choice_reads_only_the_chosen_sheets(registry):
    res = loaders.import_file(registry, quarters_book(), "q.xlsx", kind="disputes",
                              sheets=["二季度", "四季度"], dry_run=True)
    assert res.ok and res.rows_read == 4 and res.sheets_read == ["二季度", "四季度"]
    assert [p["案件编号"] for p in res.preview] == ["HQ-2024-21", "HQ-2024-22", "HQ-2024-41",
                                                    "HQ-2024-42"]
    assert [(p["工作表"], p["行号"]) for p in res.preview] == [
        ("二季度", 3), ("二季度", 4), ("四季度", 3), ("四季度", 4)]
    res = loaders.import_file(registry, quarters_book(), "q.xlsx", sheets=["五季度"])
    assert res.refused == "no_sheet"
    assert res.errors[0]["message"] == ("找不到名为“五季度”的工作表；文件中的工作表有："
                                        "填写说明、一季度、二季度、三季度、四季度。")


def test_cli_imports_an_xls_ledger_and_the_quarters_workbook(registry, tmp_path):
    url = registry.url.render_as_string(hide_password=False)
    xls = tmp_path / "红旗村台账.xls"
    xls.write_bytes(xls_book([("Sheet1", [["红旗村矛盾纠纷登记台账"], HEAD] + quarter_rows(1))]))
    book = tmp_path / "全年.xlsx"
    book.write_bytes(quarters_book())

    def run(path):
        p = subprocess.run([sys.executable, "-m", "loaders", "import", str(path), "--db", url,
                            "--json", "--kind", "disputes"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr + p.stdout
        return json.loads(p.stdout)
    out = run(xls)
    assert (out["inserted"], out["sheets_read"], out["sheets_skipped"]) == (2, ["Sheet1"], [])
    out = run(book)
    assert (out["inserted"], out["unchanged"]) == (6, 2)
    assert out["sheets_read"] == ["一季度", "二季度", "三季度", "四季度"]
    assert out["sheets_skipped"] == [{"sheet": "填写说明", "reason": "说明或选项表，不是数据"}]
    assert case_nos(registry) == ALL_CASES


def test_formats_told_apart_by_their_bytes():
    assert R.file_format(xls_book([("S", [["a"]])]), "a.xls") == "xls"
    assert R.file_format(ods_book([("S", [["a"]])]), "a.ods") == "ods"
    assert R.file_format(ods_book([("S", [["a"]])]), "renamed.xlsx") == "ods"
    assert R.file_format(xlsx_book([("S", [["a"]])]), "a.xlsx") == "xlsx"


@pytest.mark.parametrize("data,name,code", [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000, "old.xls", "bad_xls"),
    (b"not an xls at all", "old.xls", "bad_xls"),
    (b"PK\x03\x04junk", "sheet.ods", "bad_ods"),
])
def test_damaged_old_formats_refused_in_chinese(engine, data, name, code):
    res = loaders.import_file(engine, data, name)
    assert res.refused == code and res.errors[0]["message"].startswith("无法读取这个 .")


# ---------------------------------------------------------------- template example row

@pytest.mark.parametrize("kind", ["disputes", "volunteers", "visits", "grids", "villages"])
def test_downloaded_template_imported_unchanged_has_no_rows(registry, kind):
    data = loaders.template_xlsx(kind)
    res = loaders.import_file(registry, data, f"template_{kind}.xlsx", kind=kind)
    assert res.batch_id is None and res.rows_read == 0
    assert [e["message"] for e in res.errors] == ["表头下面没有数据行。"]
    assert "已跳过模板中的示例行（第 2 行）。" in res.notes
    assert res.sheets_read == ["数据"]
    assert [(s["sheet"], s["reason"]) for s in res.sheets_skipped] == [("选项", "notes"),
                                                                        ("填写说明", "notes")]


def test_template_with_the_example_kept_imports_only_the_clerks_rows(registry):
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(loaders.template_xlsx("disputes")))
    ws = wb["数据"]
    head = [c.value for c in ws[1]]
    assert ws.cell(2, head.index("备注") + 1).value == "示例行：导入时自动跳过，可以删除或改写"
    assert ws.cell(2, 1).font.i and ws.cell(2, 1).value == "HQ-2024-001"
    row = {"案件编号": "HQ-2024-777", "村（社区）": "红旗村", "纠纷类型": "邻里纠纷",
           "登记日期": "2024-04-01", "化解状态": "已受理"}
    ws.append([row.get(h, "") for h in head])
    # a clerk who overwrote the example: one value changed is real data
    changed = [c.value for c in ws[2]]
    changed[head.index("调解人")] = "王芳"
    ws.append(changed)
    buf = io.BytesIO()
    wb.save(buf)
    res = loaders.import_file(registry, buf.getvalue(), "filled.xlsx")
    assert res.ok, res.errors
    assert res.inserted == 2
    assert case_nos(registry) == ["HQ-2024-001", "HQ-2024-777"]
    with registry.connect() as c:
        assert c.execute(sa.select(S.dispute.c.mediator)
                         .where(S.dispute.c.case_no == "HQ-2024-001")).scalar_one() == "王芳"


# ---------------------------------------------------------------- files of another kind

ROSTER = ("序号,村（社区）,所属网格,户号,户主姓名,姓名,与户主关系,性别,民族,出生日期,身份证号,户数\n"
          "1,红旗村,第1网格,001,王建国,王建国,本人,男,汉族,1965-01-01,360121196501011234,1\n")


def test_household_roster_with_grid_columns_is_named_a_roster(registry):
    res = loaders.import_file(registry, ROSTER.encode(), "花名册.csv", dry_run=True)
    assert res.refused == "foreign"
    assert res.errors[0]["message"].startswith("这是户籍花名册，不是本系统的台账")
    res = loaders.import_file(registry, ROSTER.encode(), "花名册.csv", kind="disputes")
    assert res.errors[0]["message"].startswith("这是户籍花名册，不是矛盾纠纷台账")


def test_clerk_dropping_a_roster_gets_the_roster_message_not_a_permission_one(registry):
    from dashboard import auth
    with registry.begin() as c:
        auth.create_user(c, "hq", "Secret-pass-123", "clerk", auth.resolve_villages(c, ["红旗村"]))
    with registry.connect() as c:
        clerk = auth.get_user(c, "hq")
    import loaders
    from dashboard import uploads
    res = uploads.run_import(registry, loaders.ImportContext(ROSTER.encode(), "花名册.csv", dry_run=True),
                             clerk)
    assert res.refused == "foreign"
    assert "户籍花名册" in res.errors[0]["message"] and "无权" not in res.errors[0]["message"]


def test_village_chosen_by_code_and_a_code_column_naming_another(registry):
    data = ("案件编号,村（社区）,区划代码,纠纷类型,登记日期,化解状态\n"
            "A1,红旗村,360121105202,邻里纠纷,2024-03-05,已受理\n").encode()
    res = loaders.import_file(registry, data, "a.csv", village="360121105201", dry_run=True)
    msgs = {e["code"]: (e["column"], e["message"]) for e in res.errors}
    assert set(msgs) == {"village_code_mismatch", "other_village_code"}
    assert msgs["other_village_code"] == (
        "区划代码", "这一行的区划代码是“360121105202（建设村）”，不是所选的村（社区）“红旗村”："
                    "请核对区划代码，只能上传本村的数据。")
    ok = ("案件编号,村（社区）,区划代码,纠纷类型,登记日期,化解状态\n"
          "A1,红旗村,360121105201,邻里纠纷,2024-03-05,已受理\n").encode()
    assert loaders.import_file(registry, ok, "a.csv", village="360121105201", dry_run=True).ok
