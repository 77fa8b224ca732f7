"""The suggestion ledger (意见建议办理台账) through the intake: rules named by row and column,
atomic, idempotent, natural keys, undo, template — on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

import loaders
from dashboard.db import schema as S
from dashboard.db.engine import write_txn

D = Path(__file__).resolve().parent / "data" / "loaders"

HEAD = "建议编号,村（社区）,代表姓名,收集日期,建议类别,办理方式,承办单位,转办日期,答复日期,满意度\n"
GOOD = HEAD + (
    "JY-1,红旗村,张秀英,2025-03-01,道路交通,转办,镇交通管理站,2025-03-02,2025-03-20,满意\n"
    "JY-2,红旗村,张秀英,2025-03-01,环境卫生,当场解决,,,,\n"
    "JY-3,建设村,李明,2025年3月5日,农业农村,交办,镇农业服务中心,2025/3/6,,\n"
    "JY-4,建设村,李明,2025-03-05,社会保障,办理中,,,,\n")


def imp(engine, text: str, name="建议.csv", **kw):
    return loaders.import_file(engine, text.encode("utf-8"), name, **kw)


@pytest.fixture
def registry(engine):
    r = loaders.import_file(engine, (D / "villages.csv").read_bytes(), "villages.csv")
    assert r.errors == [] and r.inserted == 3
    return engine


def rows(engine):
    T = S.suggestion
    with engine.connect() as c:
        return c.execute(sa.select(T.c.sugg_no, T.c.rep_name, T.c.collected_on, T.c.category,
                                   T.c.handling, T.c.department, T.c.referred_on, T.c.replied_on,
                                   T.c.satisfaction).order_by(T.c.sugg_no)).all()


def test_detected_and_stored(registry):
    res = imp(registry, GOOD)
    assert (res.kind, res.errors, res.inserted) == ("suggestions", [], 4)
    assert rows(registry) == [
        ("JY-1", "张秀英", date(2025, 3, 1), "道路交通", "referred", "镇交通管理站",
         date(2025, 3, 2), date(2025, 3, 20), "satisfied"),
        ("JY-2", "张秀英", date(2025, 3, 1), "环境卫生", "on_the_spot", None, None, None, None),
        ("JY-3", "李明", date(2025, 3, 5), "农业农村", "referred", "镇农业服务中心",
         date(2025, 3, 6), None, None),
        ("JY-4", "李明", date(2025, 3, 5), "社会保障", "in_progress", None, None, None, None),
    ]


def test_every_rule_named_by_row_and_column_in_one_pass(registry):
    bad = HEAD + (
        "JY-1,红旗村,张秀英,2025-03-01,道路交通,转办,,2025-03-02,,\n"          # 2: no department
        "JY-2,红旗村,张秀英,2025-03-01,道路交通,转办,镇交通管理站,,,\n"        # 3: no referral date
        "JY-3,红旗村,张秀英,2025-03-05,道路交通,转办,镇交通管理站,2025-03-04,,\n"  # 4: before collection
        "JY-4,红旗村,张秀英,2025-03-05,道路交通,转办,镇交通管理站,2025-03-06,2025-03-05,\n"  # 5
        "JY-5,红旗村,张秀英,2025-03-05,道路交通,当场解决,,2025-03-06,,\n"      # 6: not a referral
        "JY-6,红旗村,张秀英,2025-03-05,道路交通,正在办理,,,2025-03-09,\n"      # 7: reply, no referral
        "JY-7,红旗村,张秀英,2025-03-05,道路交通,转办,镇交通管理站,2025-03-06,,满意\n"  # 8
        "JY-8,红旗村,张秀英,2025-03-05,道路交通,上报,,,,\n"                    # 9: unknown handling
        "JY-9,红旗村,张秀英,2025-03-05,道路交通,转办,镇交通管理站,2025-03-06,2025-03-07,很好\n"  # 10
        "JY-10,红旗村,张秀英,2025-03-05,道路交通,当场解决,,,,满意\n")          # fine: satisfied on the spot
    res = imp(registry, bad)
    got = [(e["row"], e["column"], e["code"]) for e in res.errors]
    assert got == [
        (2, "承办单位", "referral_needs"),
        (3, "转办日期", "referral_needs"),
        (4, "转办日期", "referred_before_collected"),
        (5, "答复日期", "replied_before_referred"),
        (6, "转办日期", "date_but_not_referred"),
        (7, "答复日期", "date_but_not_referred"),
        (8, "满意度", "satisfaction_without_reply"),
        (9, "办理方式", "bad_enum"),
        (10, "满意度", "bad_enum"),
    ]
    msg = {e["row"]: e["message"] for e in res.errors}
    assert msg[2] == "“办理方式”是“转办”，但没有填写“承办单位”：转办的建议要写明承办单位和转办日期。"
    assert msg[5] == "答复日期“2025-03-05”早于“转办日期”：请核对。"
    assert "当场解决、转办、正在办理" in msg[9]
    assert res.batch_id is None and rows(registry) == []   # nothing half-imported


def test_same_file_twice_changes_nothing_and_undo(registry):
    first = imp(registry, GOOD)
    again = imp(registry, GOOD)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    # the reply arrives: the clerk fills it in and uploads again
    later = GOOD.replace("2025/3/6,,", "2025/3/6,2025-04-02,基本满意")
    upd = imp(registry, later)
    assert (upd.inserted, upd.updated, upd.unchanged, upd.errors) == (0, 1, 3, [])
    assert upd.diff["changed"][0]["cells"] == {"答复日期": [None, "2025-04-02"],
                                              "满意度": [None, "基本满意"]}
    assert rows(registry)[2][7:] == (date(2025, 4, 2), "basic")
    loaders.undo_batch(registry, upd.batch_id)
    assert rows(registry)[2][7:] == (None, None)
    loaders.undo_batch(registry, again.batch_id)
    loaders.undo_batch(registry, first.batch_id)
    assert rows(registry) == []


def test_keyless_rows_get_a_natural_key(registry):
    text = "\n".join(line.split(",", 1)[1] for line in GOOD.strip().split("\n")) + "\n"
    res = imp(registry, text)
    assert (res.errors, res.inserted) == ([], 4)
    assert all(r[0].startswith("NK-") for r in rows(registry))
    fixed = text.replace("2025/3/6,,", "2025/3/6,2025-04-02,不满意")
    res = imp(registry, fixed)
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 3)


def test_clerk_own_village_only(registry):
    with registry.connect() as c:
        hq = c.execute(sa.select(S.village.c.id).where(S.village.c.name == "红旗村")).scalar_one()
    res = imp(registry, GOOD, allowed_village_ids={hq})
    assert {e["code"] for e in res.errors} == {"not_allowed"}
    assert sorted({e["row"] for e in res.errors}) == [4, 5]


def test_template_reads_back_as_no_rows():
    data = loaders.template_xlsx("suggestions")
    from loaders.read import read
    raw = read(data, "t.xlsx")
    assert [h for h in raw.headers if h != "区划代码"] == HEAD.strip().split(",") + ["备注"]


def test_template_unchanged_has_no_rows(registry):
    res = loaders.import_file(registry, loaders.template_xlsx("suggestions"), "模板.xlsx")
    assert res.kind == "suggestions"
    assert [e["code"] for e in res.errors] == ["no_rows"]


@pytest.mark.parametrize("bad", [
    dict(handling="referred"),                                        # no department, no date
    dict(handling="referred", department="镇政府"),                    # no referral date
    dict(handling="on_the_spot", referred_on=date(2025, 3, 2)),
    dict(handling="in_progress", replied_on=date(2025, 3, 2)),
    dict(handling="referred", department="镇政府", referred_on=date(2025, 2, 1)),
    dict(handling="referred", department="镇政府", referred_on=date(2025, 3, 2),
         replied_on=date(2025, 3, 1)),
    dict(handling="sent"),
    dict(handling="on_the_spot", satisfaction="happy"),
])
def test_database_checks_the_same_rules(registry, bad):
    with registry.connect() as c:
        vid = c.execute(sa.select(S.village.c.id).limit(1)).scalar_one()
    row = dict(sugg_no="X", village_id=vid, rep_name="王某", collected_on=date(2025, 3, 1),
               category="其他", **bad)
    with pytest.raises(sa.exc.IntegrityError):
        with write_txn(registry) as c:
            c.execute(sa.insert(S.suggestion).values(**row))


def test_command_line_import_and_undo(registry, db_url, tmp_path):
    import json
    import subprocess
    import sys
    f = tmp_path / "意见建议办理台账.csv"
    f.write_text(GOOD, encoding="gbk")
    run = [sys.executable, "-m", "loaders"]
    out = subprocess.run(run + ["import", str(f), "--db", db_url, "--json"], capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parent.parent)
    doc = json.loads(out.stdout)
    assert (out.returncode, doc["kind"], doc["inserted"], doc["encoding"]) == (0, "suggestions", 4, "gbk")
    out = subprocess.run(run + ["undo", str(doc["batch_id"]), "--db", db_url], capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    assert rows(registry) == []


def test_any_combination_is_refused_by_row_or_stored_consistently(registry):
    """Hostile combinations of handling, department, dates and satisfaction: the intake either
    names every bad row (and writes nothing) or stores rows the database's own checks accept —
    never a database conflict or an internal error."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    day = st.one_of(st.just(""), st.dates(date(2025, 1, 1), date(2025, 1, 20)).map(str),
                    st.just("2025年1月5日"), st.just("不详"), st.just("2025-13-01"))
    row = st.tuples(st.sampled_from(["转办", "当场解决", "正在办理", "交办", "上报", ""]),
                    st.sampled_from(["", "镇政府"]), day, day,
                    st.sampled_from(["", "满意", "基本满意", "不满意", "一般"]))

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(row, min_size=1, max_size=4))
    def check(rows_):
        lines = [f"H-{i},红旗村,张秀英,2025-01-05,道路交通,{h},{d},{ref},{rep},{sat}"
                 for i, (h, d, ref, rep, sat) in enumerate(rows_)]
        res = imp(registry, HEAD + "\n".join(lines) + "\n")   # written for real: the CHECKs run
        assert res.refused == "", res.errors
        if res.errors:
            assert all(e["row"] and e["column"] for e in res.errors), res.errors
            assert res.batch_id is None
        else:
            assert res.rows_read == len(rows_) and res.batch_id is not None
    check()
    res = imp(registry, HEAD + "H-9,红旗村,张秀英,2025-01-05,道路交通,转办,镇政府,2025-01-05,2025-01-05,满意\n")
    assert res.errors == [] and res.inserted == 1   # the same day for all three dates is fine
