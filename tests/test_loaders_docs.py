"""Templates, documentation and catalogue of the intake."""
from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest

import loaders
from dashboard import i18n
from loaders import spec

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "UPLOAD_TEMPLATES.md").read_text(encoding="utf-8")


def test_docs_list_every_alias_and_enum_spelling():
    for kind in spec.KINDS:
        assert f"### `{kind}`" in DOC
        for f in spec.fields(kind):
            for a in f.aliases:
                assert f"`{a}`" in DOC, (kind, f.name, a)
    for enum, values in spec.ENUMS.items():
        for code, spellings in values.items():
            for s in spellings:
                assert s in DOC, (enum, code, s)


def test_issue_aliases_are_in_the_table():
    """The spellings the issue names at least."""
    must = {
        "disputes": "案件编号 编号 纠纷编号 纠纷类型 类别 登记日期 受理日期 排查日期 当事人数 涉及人数 化解状态 "
                    "办理状态 状态 化解日期 办结日期 化解层级 化解级别 调解人 调解员 来源 备注 村（社区） 村(社区) 村名 "
                    "村庄 社区 所属村 村（社区）名称 village 所属网格 网格 网格名称 网格编号",
        "volunteers": "活动编号 活动日期 服务日期 志愿服务队 志愿队伍 服务队 活动类型 服务类型 参与人数 志愿者人数 "
                      "服务时长（小时） 时长（小时） 活动时长 积分",
        "visits": "记录编号 代表姓名 姓名 代表类型 代表类别 走访日期 日期 走访形式 方式 走访选民人次 联系选民人次 "
                  "接待选民人次 收集意见建议（条） 意见建议 解决问题（个） 解决问题 转办问题（个） 转办",
        "villages": "区划代码 统计用区划代码 村代码 类型 村社类型 户数 农户数 人口 户籍人口 常住人口 党员数 党员人数",
        "grids": "网格长 网格员人数 网格员数 户数 农户数",
    }
    for kind, words in must.items():
        exact, loose = spec.alias_index(kind)
        for w in words.split():
            n = spec.norm_header(w)
            assert n in exact or spec.strip_units(n) in loose, (kind, w)


@pytest.mark.parametrize("kind", spec.KINDS)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_templates(kind, lang):
    data = loaders.template_xlsx(kind, lang)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[1]]
    assert headers[0] and all(headers)
    assert ws.max_row >= 2 and any(c.value not in (None, "") for c in ws[2])   # example row
    assert len(wb.sheetnames) == 3 and wb.sheetnames[2] in ("填写说明", "Rules")
    enums = [f for f in spec.fields(kind) if f.type == "enum" and f.template]
    assert len(ws.data_validations.dataValidation) >= len(enums)
    if lang == "zh":
        assert headers == [f.aliases[0] for f in spec.fields(kind)
                           if f.name not in ("lon", "lat") and f.template]


@pytest.mark.parametrize("kind", spec.KINDS)
def test_template_headers_are_recognised(kind):
    raw = loaders.template_xlsx(kind, "zh")
    from loaders import normalise as N, read as R
    t = R.read(raw, f"{kind}.xlsx")
    assert N.detect_kind(t.headers) == kind


def test_template_example_rows_import_cleanly(engine, monkeypatch):
    """The example row is valid data (checked with its recognition switched off); as shipped,
    it is skipped and never imported (issue 13: 8)."""
    from loaders import template
    d = ROOT / "tests" / "data" / "loaders"
    assert loaders.import_file(engine, (d / "villages.csv").read_bytes(), "villages.csv").ok
    assert loaders.import_file(engine, (d / "grids.geojson").read_bytes(), "grids.geojson").ok
    for kind in ("disputes", "volunteers", "visits"):
        res = loaders.import_file(engine, loaders.template_xlsx(kind), f"{kind}.xlsx", dry_run=True)
        assert res.kind == kind and res.rows_read == 0 and res.inserted == 0
        assert [e["message"] for e in res.errors] == ["表头下面没有数据行。"]
    real = template.example_rows
    monkeypatch.setattr(template, "example_rows", lambda raw, k, m=None: real(raw, k, m) & False)
    for kind in ("disputes", "volunteers", "visits"):
        res = loaders.import_file(engine, loaders.template_xlsx(kind), f"{kind}.xlsx", dry_run=True)
        assert res.ok and res.kind == kind and res.inserted == 1, res.errors


def test_every_reason_code_has_a_message_in_both_languages():
    codes = set()
    for p in (ROOT / "loaders").glob("*.py"):
        text = p.read_text(encoding="utf-8")
        codes |= set(re.findall(r'Refusal\("(\w+)"', text))
        codes |= set(re.findall(r'Problem\([^)]*?"(\w+)"[,)]', text))
        codes |= set(re.findall(r'col\.add\([^)]*?"(\w+)"', text, flags=re.S))
    codes -= {"code", "name", "column"} | {f.name for k in spec.KINDS for f in spec.fields(k)}
    assert len(codes) > 40
    for lang in ("zh", "en"):
        cat = i18n.catalogue(lang)
        missing = [c for c in codes if f"loader.err.{c}" not in cat]
        assert missing == [], (lang, missing)


def test_api_is_documented():
    doc = loaders.__doc__
    for name in ("import_file", "undo_batch", "list_batches", "template_xlsx", "allowed_village_ids"):
        assert name in doc


def test_the_generated_tables_are_what_spec_says():
    """docs/UPLOAD_TEMPLATES.md's alias and enumeration tables come from `python -m loaders docs`."""
    from loaders import docs
    assert docs.render(DOC) == DOC


def test_every_dispute_category_spelling_is_documented():
    for name, spellings in spec.DISPUTE_CATEGORIES.items():
        assert all(s in DOC for s in (name, *spellings)), name
