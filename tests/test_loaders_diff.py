"""Corrections that correct: natural keys for keyless ledgers, the diff before 确认导入 (new,
changed old → new, unchanged, missing rows kept or removed), reused numbers refused."""
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

import loaders
from dashboard.db import schema as S
from dashboard.queries.summary import counts
from loaders.__main__ import main

D = Path(__file__).resolve().parent / "data" / "loaders"
VOL = ("村（社区）,活动日期,志愿服务队,活动类型,参与人数,服务时长（小时）\n"
       "红旗村,2024-03-05,红旗村巾帼志愿服务队,环境整治,15,2\n"
       "红旗村,2024-03-12,红旗村党员志愿服务队,关爱老人,8,3\n")
VIS = ("村（社区）,代表姓名,代表类型,走访日期,走访形式,走访选民人次,意见建议\n"
       "红旗村,王明,人大代表,2024-03-05,入户走访,12,3\n")
DIS = ("纠纷编号,村(社区),类别,排查日期,当事人数,状态\n"
       "HQ-1,红旗村,邻里纠纷,2024-01-05,2,已受理\n"
       "HQ-2,红旗村,土地流转,2024-01-07,2,已受理\n"
       "HQ-3,红旗村,婚姻家庭,2024-02-01,2,已受理\n")


@pytest.fixture
def town(engine):
    assert loaders.import_file(engine, (D / "villages.csv").read_bytes(), "villages.csv").ok
    return engine


def run_cli(db_url, tmp_path, name, text, *flags, capsys):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    code = main(["import", str(f), "--db", db_url, "--json", *flags])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_corrected_keyless_volunteer_ledger_updates_its_row(town, db_url, tmp_path, capsys):
    code, first = run_cli(db_url, tmp_path, "vol.csv", VOL, capsys=capsys)
    assert code == 0 and (first["inserted"], first["updated"]) == (2, 0)
    code, again = run_cli(db_url, tmp_path, "vol.csv", VOL.replace(",15,2", ",16,2"), capsys=capsys)
    assert code == 0 and (again["inserted"], again["updated"], again["unchanged"]) == (0, 1, 1)
    with town.connect() as c:
        rows = c.execute(sa.select(S.volunteer_activity.c.participants)
                         .order_by(S.volunteer_activity.c.held_on)).scalars().all()
    assert rows == [16, 8]


def test_same_day_repeats_get_a_sequence_and_the_preview_names_the_key(town):
    twice = VOL + "红旗村,2024-03-05,红旗村巾帼志愿服务队,环境整治,6,1\n"
    r = loaders.import_file(town, twice.encode(), "vol.csv")
    assert r.ok and r.inserted == 3
    assert any("活动日期 + 服务队 + 活动类型" in n for n in r.notes)
    fixed = twice.replace(",6,1", ",7,1")
    r = loaders.import_file(town, fixed.encode(), "vol.csv", dry_run=True)
    assert (r.inserted, r.updated, r.unchanged) == (0, 1, 2)
    assert [(c["row"], c["cells"]) for c in r.diff["changed"]] == [(4, {"参与人数": [6, 7]})]


def test_corrected_keyless_visit_updates_its_row(town):
    assert loaders.import_file(town, VIS.encode(), "vis.csv").inserted == 1
    r = loaders.import_file(town, VIS.replace(",12,3", ",14,3").encode(), "vis.csv")
    assert (r.inserted, r.updated) == (0, 1)
    assert r.diff["changed"][0]["cells"] == {"走访选民人次": [12, 14]}


def test_diff_lists_new_changed_unchanged_and_missing_rows(town):
    assert loaders.import_file(town, DIS.encode(), "q1.csv").inserted == 3
    again = DIS.replace("HQ-2,红旗村,土地流转,2024-01-07,2,已受理\n", "") \
        .replace("HQ-3,红旗村,婚姻家庭,2024-02-01,2,已受理", "HQ-3,红旗村,婚姻家庭,2024-02-01,3,化解中") \
        + "HQ-4,红旗村,邻里纠纷,2024-02-03,2,已受理\n"
    r = loaders.import_file(town, again.encode(), "q1.csv", village="红旗村", dry_run=True)
    assert r.ok, r.errors
    d = r.diff
    assert [x["key"] for x in d["new"]] == ["HQ-4"] and d["unchanged"] == 1
    assert d["changed"][0]["key"] == "HQ-3"
    assert d["changed"][0]["cells"] == {"当事人数": [2, 3], "化解状态": ["已受理", "化解中"]}
    assert d["span"] == ["2024-01-05", "2024-02-03"]
    assert [(m["key"], m["date"], m["what"]) for m in d["missing"]] == [("HQ-2", "2024-01-07", "土地流转")]
    kept = loaders.import_file(town, again.encode(), "q1.csv")
    assert kept.deleted == 0
    with town.connect() as c:
        assert counts(c)["disputes"] == 4


def test_remove_missing_from_the_command_line_and_undo_restores(town, db_url, tmp_path, capsys):
    assert loaders.import_file(town, DIS.encode(), "q1.csv").inserted == 3
    less = DIS.replace("HQ-2,红旗村,土地流转,2024-01-07,2,已受理\n", "")
    code, out = run_cli(db_url, tmp_path, "q1.csv", less, "--remove-missing", capsys=capsys)
    assert code == 0 and out["deleted"] == 1 and out["missing"] == 1
    with town.connect() as c:
        assert sorted(c.execute(sa.select(S.dispute.c.case_no)).scalars()) == ["HQ-1", "HQ-3"]
    assert main(["undo", str(out["batch_id"]), "--db", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["restored"] == 1
    with town.connect() as c:
        assert sorted(c.execute(sa.select(S.dispute.c.case_no)).scalars()) == ["HQ-1", "HQ-2", "HQ-3"]


def test_a_reused_number_is_refused_unless_accepted(town, db_url, tmp_path, capsys):
    assert loaders.import_file(town, DIS.encode(), "q1.csv").inserted == 3
    q2 = "纠纷编号,村(社区),类别,排查日期,当事人数,状态\nHQ-1,红旗村,物业纠纷,2024-04-02,2,已受理\n"
    dry = loaders.import_file(town, q2.encode(), "q2.csv", dry_run=True)
    assert dry.ok and dry.diff["reused_total"] == 1
    assert dry.diff["reused"][0]["fields"] == ["登记日期", "纠纷类型"]
    code, out = run_cli(db_url, tmp_path, "q2.csv", q2, capsys=capsys)
    assert code == 1 and out["batch_id"] is None
    assert "可能重复使用了编号" in out["errors"][0]["message"]
    with town.connect() as c:
        assert c.execute(sa.select(S.dispute.c.category).where(S.dispute.c.case_no == "HQ-1")).scalar() == "邻里纠纷"
    code, out = run_cli(db_url, tmp_path, "q2.csv", q2, "--accept-reused", capsys=capsys)
    assert code == 0 and out["updated"] == 1


def test_a_batch_lists_the_rows_it_added_changed_and_removed(town):
    from dashboard import uploads
    assert loaders.import_file(town, DIS.encode(), "q1.csv").inserted == 3
    again = DIS.replace("HQ-2,红旗村,土地流转,2024-01-07,2,已受理\n", "").replace("2024-02-01,2,", "2024-02-01,3,") \
        + "HQ-4,红旗村,邻里纠纷,2024-02-03,2,已受理\n"
    r = loaders.import_file(town, again.encode(), "q1.csv", remove_missing=True)
    assert (r.inserted, r.updated, r.deleted) == (1, 1, 1)
    with town.connect() as c:
        df = uploads.batch_rows(c, r.batch_id)
        clerk = {"username": "x", "role": "clerk", "village_ids": (999,)}
        assert uploads.batch_rows(c, r.batch_id, clerk) is None     # another village's batch
    got = sorted(zip(df["变更"], df["案件编号"], df["当事人数"].astype(str), df["村（社区）"]))
    assert got == [("删除", "HQ-2", "2", "红旗村"), ("新增", "HQ-4", "2", "红旗村"), ("更新", "HQ-3", "3", "红旗村")]


def test_dispute_categories_are_filed_under_the_vocabulary_and_the_rest_listed(town):
    body = ("纠纷编号,村(社区),类别,排查日期,当事人数,状态\n"
            "HQ-1,红旗村,婚姻家庭,2024-01-05,2,已受理\n"
            "HQ-2,红旗村,婚姻家庭矛盾,2024-01-07,2,已受理\n"
            "HQ-3,红旗村,拖欠工资,2024-02-01,2,已受理\n"
            "HQ-4,红旗村,鸡毛蒜皮,2024-02-02,2,已受理\n"
            "HQ-5,红旗村,鸡毛蒜皮,2024-02-03,2,已受理\n")
    r = loaders.import_file(town, body.encode(), "c.csv", dry_run=True)
    assert r.ok and r.categories == [{"value": "鸡毛蒜皮", "rows": 2}]
    r = loaders.import_file(town, body.encode(), "c.csv", category_map={"鸡毛蒜皮": "其他"})
    assert r.ok and r.categories == []
    with town.connect() as c:
        got = dict(c.execute(sa.select(S.dispute.c.case_no, S.dispute.c.category)).all())
    assert got == {"HQ-1": "婚姻家庭矛盾", "HQ-2": "婚姻家庭矛盾", "HQ-3": "劳资纠纷", "HQ-4": "其他",
                   "HQ-5": "其他"}


def test_migration_0005_rekeys_stored_keyless_rows_so_a_correction_updates_them(db_url, tmp_path):
    """A volunteer row stored before 0005 (content-hash key AUTO-…) gets the natural key; the
    corrected copy of its ledger then updates it instead of adding a second row."""
    from alembic import command

    from dashboard.db.engine import alembic_config, get_engine, migrate
    from dashboard.db.engine import write_txn as txn
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0004")
    eng = get_engine(db_url)
    with txn(eng) as c:
        c.execute(sa.text("INSERT INTO township (code, name, is_demo) VALUES ('360121105000', '镇', false)"))
        tid = c.execute(sa.text("SELECT id FROM township")).scalar()
        c.execute(sa.text("INSERT INTO village (township_id, name, code, kind, households, population, "
                          "party_members) VALUES (:t, '红旗村', '360121105201', 'village', 0, 0, 0)"), {"t": tid})
        vid = c.execute(sa.text("SELECT id FROM village")).scalar()
        c.execute(sa.text("INSERT INTO volunteer_activity (activity_no, village_id, held_on, team, category, "
                          "participants, hours, points) VALUES ('AUTO-0123456789abcdef', :v, '2024-03-05', "
                          "'红旗村巾帼志愿服务队', '环境整治', 15, 2, 0)"), {"v": vid})
    eng.dispose()
    eng = migrate(db_url)
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT activity_no FROM volunteer_activity")).scalar().startswith("NK-")
    r = loaders.import_file(eng, VOL.replace(",15,2", ",16,2").encode(), "vol.csv")
    assert (r.inserted, r.updated) == (1, 1), r.errors
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT participants FROM volunteer_activity WHERE held_on = '2024-03-05'")) \
            .scalars().all() == [16]
