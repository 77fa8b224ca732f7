"""Clerk file intake end to end: one fixture per case, exact counts and error rows."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

import loaders
from dashboard.db import schema as S
from dashboard.queries.summary import counts

ROOT = Path(__file__).resolve().parent.parent
D = ROOT / "tests" / "data" / "loaders"


def imp(engine, name, **kw):
    return loaders.import_file(engine, (D / name).read_bytes(), name, **kw)


def errs(res):
    return [(e["row"], e["code"]) for e in res.errors]


def snapshot(engine) -> dict:
    """Every row of every data table, for 'nothing changed' assertions."""
    out = {}
    with engine.connect() as c:
        for t in (S.township, S.village, S.grid, S.dispute, S.volunteer_activity, S.rep_visit,
                  S.import_batch, S.batch_change):
            out[t.name] = sorted(tuple(r) for r in c.execute(sa.select(t).order_by(t.c.id)).all())
    return out


@pytest.fixture
def registry(engine):
    """Three villages (红旗村, 建设村, 东湖社区) and six grids, loaded through the intake itself."""
    r = imp(engine, "villages.csv")
    assert (r.kind, r.inserted, r.errors) == ("villages", 3, [])
    r = imp(engine, "grids.geojson")
    assert (r.kind, r.inserted, r.errors) == ("grids", 6, [])
    return engine


def test_registry_creates_township_and_codes(registry):
    with registry.connect() as c:
        tw = c.execute(sa.select(S.township.c.code, S.township.c.name)).all()
        vs = c.execute(sa.select(S.village.c.name, S.village.c.kind, S.village.c.households)
                       .order_by(S.village.c.code)).all()
        gs = c.execute(sa.select(S.grid.c.code, S.grid.c.name, S.grid.c.geometry, S.grid.c.minx)
                       .order_by(S.grid.c.code)).all()
    assert tw == [("360121105000", "本乡镇")]
    assert vs == [("东湖社区", "community", 2100), ("红旗村", "village", 860),
                  ("建设村", "village", 640)]
    assert [g[0] for g in gs] == ["36012110500101", "36012110520101", "36012110520102",
                                  "36012110520103", "36012110520201", "36012110520202"]
    assert all(json.loads(g[2])["type"] == "Polygon" and g[3] > 115 for g in gs)


def test_gbk_title_row_and_footer(registry):
    res = imp(registry, "disputes_gbk_title_footer.csv")
    assert res.errors == []
    assert (res.kind, res.encoding, res.header_row, res.rows_read) == ("disputes", "gbk", 2, 4)
    assert (res.inserted, res.updated, res.unchanged) == (4, 0, 0)
    assert res.village == "红旗村"  # named only in the title row
    with registry.connect() as c:
        rows = c.execute(sa.select(S.dispute.c.case_no, S.dispute.c.reported_on, S.dispute.c.parties,
                                   S.dispute.c.status, S.dispute.c.resolved_on, S.dispute.c.level)
                         .order_by(S.dispute.c.case_no)).all()
    assert rows == [
        ("HQ-2025-031", date(2025, 7, 2), 2, "resolved", date(2025, 7, 3), "grid"),
        ("HQ-2025-032", date(2025, 7, 9), 5, "resolved", date(2025, 7, 30), "township"),
        ("HQ-2025-033", date(2025, 8, 14), 3, "in_progress", None, None),  # full-width ３
        ("HQ-2025-034", date(2025, 9, 1), 4, "resolved", date(2025, 9, 12), "village"),
    ]


def test_village_param_fills_and_must_match(registry):
    assert imp(registry, "disputes_gbk_title_footer.csv", village="红旗村", dry_run=True).ok
    res = imp(registry, "disputes_utf8_bom.csv", village="红旗村")
    assert res.rejected == 5 and {e["code"] for e in res.errors} == {"other_village"}
    res = imp(registry, "disputes_gbk_title_footer.csv", village="红旗")
    assert res.ok and res.village == "红旗村"
    res = imp(registry, "disputes_gbk_title_footer.csv", village="洪旗村")
    assert res.refused == "unknown_village_param" and "红旗村" in res.errors[0]["message"]


def test_utf8_bom_aliases_and_html(registry):
    res = imp(registry, "disputes_utf8_bom.csv")
    assert res.errors == []
    assert (res.encoding, res.rows_read, res.inserted) == ("utf-8-sig", 5, 5)
    with registry.connect() as c:
        r = dict(c.execute(sa.select(S.dispute.c.case_no, S.dispute.c.status)).all())
        note = c.execute(sa.select(S.dispute.c.note).where(S.dispute.c.case_no == "DH-2024-003")
                         ).scalar_one()
        grid = c.execute(sa.select(S.dispute.c.grid_id).where(S.dispute.c.case_no == "DH-2024-003")
                         ).scalar_one()
    assert r == {"JS-2024-001": "resolved", "JS-2024-002": "in_progress",
                 "DH-2024-001": "in_progress", "DH-2024-002": "resolved", "DH-2024-003": "resolved"}
    assert note == "<b>加粗</b>"  # stored as written; escaped wherever shown
    assert grid is None


def test_xlsx_merged_title_real_dates_formula_text(registry):
    res = imp(registry, "disputes_merged_title.xlsx")
    assert res.errors == []
    assert (res.sheet, res.header_row, res.rows_read, res.inserted) == ("2024年", 2, 3, 3)
    assert res.village == "建设村"
    with registry.connect() as c:
        rows = c.execute(sa.select(S.dispute.c.case_no, S.dispute.c.reported_on, S.dispute.c.note,
                                   S.grid.c.name)
                         .join(S.grid, S.grid.c.id == S.dispute.c.grid_id)
                         .order_by(S.dispute.c.case_no)).all()
    assert rows == [("JS-X-001", date(2024, 2, 3), None, "第1网格"),
                    ("JS-X-002", date(2024, 5, 6), '=HYPERLINK("http://example.invalid","详情")',
                     "第2网格"),
                    ("JS-X-003", date(2024, 7, 27), "序列号日期", "第2网格")]  # serial 45500


def test_named_sheet_and_first_sheet_with_data(registry):
    res = imp(registry, "visits_named_sheet.xlsx")
    assert (res.sheet, res.inserted, res.errors) == ("走访", 1, [])
    res = imp(registry, "visits_named_sheet.xlsx", sheet="封面")
    assert res.refused == "no_header"
    res = imp(registry, "visits_named_sheet.xlsx", sheet="不存在")
    assert res.refused == "no_sheet" and "走访" in res.errors[0]["message"]


def test_volunteers_fullwidth_and_serial_dates(registry):
    res = imp(registry, "volunteers_fullwidth.csv")
    assert (res.kind, res.inserted, res.errors) == ("volunteers", 4, [])
    with registry.connect() as c:
        rows = c.execute(sa.select(S.volunteer_activity.c.activity_no, S.volunteer_activity.c.held_on,
                                   S.volunteer_activity.c.participants, S.volunteer_activity.c.hours,
                                   S.volunteer_activity.c.points)
                         .order_by(S.volunteer_activity.c.activity_no)).all()
        total = c.execute(sa.select(sa.func.sum(S.volunteer_activity.c.participants
                                                * S.volunteer_activity.c.hours))).scalar_one()
    assert rows == [("ZY-001", date(2024, 3, 5), 12, 2.5, 30), ("ZY-002", date(2024, 3, 16), 8, 2.0, 16),
                    ("ZY-003", date(2024, 4, 2), 20, 1.5, 30), ("ZY-004", date(2024, 4, 15), 6, 3.0, 18)]
    assert total == 12 * 2.5 + 8 * 2 + 20 * 1.5 + 6 * 3  # hours are per participant


def test_visits_aliases(registry):
    res = imp(registry, "visits.csv")
    assert (res.inserted, res.errors) == (3, [])
    with registry.connect() as c:
        rows = c.execute(sa.select(S.rep_visit.c.record_no, S.rep_visit.c.rep_type, S.rep_visit.c.form,
                                   S.rep_visit.c.voters, S.rep_visit.c.suggestions)
                         .order_by(S.rep_visit.c.record_no)).all()
    assert rows == [("ZF-001", "npc", "home", 8, 3), ("ZF-002", "party", "station", 25, 6),
                    ("ZF-003", "cppcc", "forum", 30, 5)]


def test_every_dispute_error_in_one_pass(registry):
    before = snapshot(registry)
    res = imp(registry, "disputes_errors.csv")
    assert errs(res) == [
        (2, "bad_date"), (3, "future_date"), (4, "resolved_before_reported"),
        (5, "resolved_needs_date"), (5, "resolved_needs_level"), (6, "negative"),
        (7, "duplicate_no"), (7, "not_whole"), (8, "duplicate_no"), (9, "unknown_village_hint"),
        (10, "unknown_grid_hint"), (11, "bad_enum"), (12, "required"), (13, "date_but_open")]
    assert (res.rows_read, res.rejected, res.inserted, res.batch_id) == (13, 12, 0, None)
    by_row = {e["row"]: e for e in res.errors}
    assert by_row[9]["column"] == "村（社区）" and by_row[9]["value"] == "红旖村"
    assert "红旗村" in by_row[9]["message"]
    assert "第1网格" in by_row[10]["message"] or "第3网格" in by_row[10]["message"]
    assert by_row[11]["value"] == "搞定了" and "已化解" in by_row[11]["message"]
    assert snapshot(registry) == before  # a file with any error changes nothing


def test_english_messages(registry):
    res = imp(registry, "disputes_errors.csv", lang="en")
    assert res.errors[0]["message"].startswith('"2024-13-05" is not a date')


def test_visits_and_volunteer_errors(registry):
    res = imp(registry, "visits_errors.csv")
    assert errs(res) == [(2, "outcomes_exceed"), (3, "bad_enum")]
    res = imp(registry, "volunteers_errors.csv")
    assert errs(res) == [(2, "hours_per_person"), (3, "not_whole")]


def test_wrong_kind_and_missing_columns(registry):
    res = imp(registry, "household_roster.csv")
    assert res.refused == "foreign" and "户籍" in res.errors[0]["message"]
    res = imp(registry, "visits.csv", kind="disputes")
    assert res.refused == "wrong_kind" and "代表走访台账" in res.errors[0]["message"]
    res = imp(registry, "disputes_missing_column.csv", kind="disputes")
    assert errs(res) == [(1, "missing_column")] and res.errors[0]["column"] == "登记日期"
    res = imp(registry, "disputes_header_only.csv")
    assert errs(res) == [(1, "no_rows")]


def test_reupload_inserts_nothing_and_corrected_file_updates(registry):
    first = imp(registry, "disputes_utf8_bom.csv")
    again = imp(registry, "disputes_utf8_bom.csv")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    fixed = imp(registry, "disputes_utf8_bom_corrected.csv")
    assert (fixed.inserted, fixed.updated, fixed.unchanged) == (1, 2, 3)
    with registry.connect() as c:
        assert counts(c)["disputes"] == 6
        r = c.execute(sa.select(S.dispute.c.status, S.dispute.c.resolved_on, S.dispute.c.level)
                      .where(S.dispute.c.case_no == "JS-2024-002")).one()
    assert tuple(r) == ("resolved", date(2024, 5, 2), "village")
    assert first.batch_id < again.batch_id < fixed.batch_id


def test_undo_restores_exactly(registry):
    imp(registry, "disputes_utf8_bom.csv")
    before = snapshot(registry)
    fixed = imp(registry, "disputes_utf8_bom_corrected.csv")
    out = loaders.undo_batch(registry, fixed.batch_id, username="tester")
    assert (out["deleted"], out["restored"]) == (1, 2)
    after = snapshot(registry)
    for t in ("dispute", "village", "grid", "township"):
        assert after[t] == before[t]
    with registry.connect() as c:
        b = loaders.list_batches(c)[0]
    assert (b["id"], b["state"]) == (fixed.batch_id, "undone")
    with pytest.raises(loaders.Refusal):
        loaders.undo_batch(registry, fixed.batch_id)


def test_undo_order_and_references(registry):
    a = imp(registry, "disputes_utf8_bom.csv")
    b = imp(registry, "disputes_utf8_bom_corrected.csv")
    with pytest.raises(loaders.Refusal) as e:
        loaders.undo_batch(registry, a.batch_id)
    assert e.value.code == "undo_later_batch"
    with registry.connect() as c:
        grid_batch = [x for x in loaders.list_batches(c) if x["kind"] == "grids"][0]["id"]
    with pytest.raises(loaders.Refusal) as e:  # disputes use those grids
        loaders.undo_batch(registry, grid_batch)
    assert e.value.code == "undo_referenced"
    assert "矛盾纠纷" in e.value.message("zh") and "dispute rows" in e.value.message("en")
    loaders.undo_batch(registry, b.batch_id)
    loaders.undo_batch(registry, a.batch_id)
    with registry.connect() as c:
        assert counts(c)["disputes"] == 0


def test_undo_registry_removes_created_township(engine):
    before = snapshot(engine)
    r = imp(engine, "villages.csv")
    loaders.undo_batch(engine, r.batch_id)
    after = snapshot(engine)
    assert after["village"] == before["village"] == [] and after["township"] == []


def test_registry_update_counts(registry):
    res = imp(registry, "villages_corrected.csv")
    assert (res.inserted, res.updated, res.unchanged) == (1, 1, 2)
    with registry.connect() as c:
        hh = c.execute(sa.select(S.village.c.households).where(S.village.c.name == "红旗村")).scalar()
        geo_kept = c.execute(sa.select(S.grid.c.geometry).limit(1)).scalar()
    assert hh == 870 and geo_kept


def test_shapefile_gcj02_converted_back_to_wgs84(registry):
    res = imp(registry, "grids_hongqi_gcj02.zip", coord_system="gcj02")
    assert (res.kind, res.rows_read, res.unchanged, res.errors) == ("grids", 3, 3, [])
    res = imp(registry, "grids_hongqi_gcj02.zip", dry_run=True)  # declared WGS-84: shifted
    assert (res.updated, res.errors) == (3, [])


def test_allowed_villages(registry):
    with registry.connect() as c:
        ids = dict(c.execute(sa.select(S.village.c.name, S.village.c.id)).all())
    before = snapshot(registry)
    res = imp(registry, "disputes_utf8_bom.csv", allowed_village_ids={ids["建设村"]})
    assert errs(res) == [(4, "not_allowed"), (5, "not_allowed"), (6, "not_allowed")]
    assert snapshot(registry) == before
    res = imp(registry, "disputes_gbk_title_footer.csv", village="红旗村",
              allowed_village_ids={ids["建设村"]})
    assert res.refused == "not_allowed_village"
    ok = imp(registry, "disputes_merged_title.xlsx", allowed_village_ids={ids["建设村"]})
    assert ok.ok and ok.inserted == 3
    with pytest.raises(loaders.Refusal):
        loaders.undo_batch(registry, ok.batch_id, allowed_village_ids={ids["红旗村"]})
    loaders.undo_batch(registry, ok.batch_id, allowed_village_ids={ids["建设村"]})


def test_dry_run_writes_nothing(registry):
    before = snapshot(registry)
    res = imp(registry, "disputes_utf8_bom.csv", dry_run=True)
    assert (res.inserted, res.batch_id, res.dry_run) == (5, None, True)
    assert snapshot(registry) == before


def test_preview_and_column_matching(registry):
    res = imp(registry, "disputes_gbk_title_footer.csv", dry_run=True)
    how = {c["column"]: (c["field"], c["how"]) for c in res.columns}
    assert how["序号"] == ("", "ignored")
    assert how["办理状态"] == ("status", "alias") and how["网格"] == ("grid", "alias")
    assert res.preview[0]["行号"] == 3 and res.preview[0]["化解状态"] == "已化解"
    res = imp(registry, "disputes_gbk_title_footer.csv", dry_run=True, kind="disputes",
              mapping={"调解员": ""})
    assert "mediator" not in {c["field"] for c in res.columns}


def test_manual_mapping_of_unmatched_column(registry):
    data = "单号,村（社区）,纠纷类型,登记日期,化解状态\nQ-1,红旗村,邻里纠纷,2024-03-05,已受理\n"
    res = loaders.import_file(registry, data.encode(), "x.csv", kind="disputes",
                              mapping={"单号": "case_no"}, dry_run=True)
    assert res.ok and res.preview[0]["案件编号"] == "Q-1"


def test_auto_key_is_stable(registry):
    data = ("村（社区）,纠纷类型,登记日期,化解状态\n红旗村,邻里纠纷,2024-03-05,已受理\n"
            "红旗村,邻里纠纷,2024-03-05,已受理\n红旗村,土地流转,2024-03-06,已受理\n").encode()
    a = loaders.import_file(registry, data, "nokey.csv")
    b = loaders.import_file(registry, data, "nokey.csv")
    assert (a.inserted, b.inserted, b.unchanged) == (3, 0, 3)


def test_formula_and_html_kept_as_text(registry):
    res = imp(registry, "disputes_hostile_text.csv")
    assert res.ok
    with registry.connect() as c:
        r = c.execute(sa.select(S.dispute.c.case_no, S.dispute.c.mediator, S.dispute.c.note)).one()
    assert tuple(r) == ('=HYPERLINK("http://evil.example/","点我")', "<script>alert(1)</script>", "=1+2")


def test_full_cycle_counts_in_summary(registry):
    for f in ("disputes_gbk_title_footer.csv", "disputes_utf8_bom.csv", "disputes_merged_title.xlsx",
              "volunteers_fullwidth.csv", "visits.csv"):
        assert imp(registry, f).ok
    with registry.connect() as c:
        assert counts(c) == {"villages": 3, "grids": 6, "disputes": 12, "volunteer_activities": 4,
                             "representative_visits": 3}


# ---------------------------------------------------------------- command line

def cli(*args, db):
    p = subprocess.run([sys.executable, "-m", "loaders", *args, "--db", db], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_cli_exit_codes_and_json(registry, db_url):
    code, out, _ = cli("import", str(D / "disputes_gbk_title_footer.csv"), "--json", db=db_url)
    obj = json.loads(out)
    assert code == 0
    assert {k: obj[k] for k in ("kind", "rows_read", "inserted", "updated", "unchanged",
                                "rejected", "errors")} == {
        "kind": "disputes", "rows_read": 4, "inserted": 4, "updated": 0, "unchanged": 0,
        "rejected": 0, "errors": []}
    assert isinstance(obj["batch_id"], int)
    code, out, _ = cli("import", str(D / "disputes_errors.csv"), "--json", db=db_url)
    obj = json.loads(out)
    assert code == 1 and obj["rejected"] == 12 and obj["batch_id"] is None
    assert set(obj["errors"][0]) == {"row", "column", "value", "message"}
    code, out, _ = cli("import", str(D / "visits.csv"), "--dry-run", db=db_url)
    assert code == 0 and "3" in out
    assert cli("import", str(D / "nope.csv"), db=db_url)[0] == 2
    assert cli("import", str(D / "visits.csv"), "--kind", "bogus", db=db_url)[0] == 2
    assert cli("import", str(D / "disputes_gbk_title_footer.csv"), "--village", "没有村",
               db=db_url)[0] == 2
    code, out, _ = cli("batches", "--json", db=db_url)
    assert code == 0 and json.loads(out)[0]["kind"] == "disputes"
    bid = json.loads(out)[0]["id"]
    assert cli("undo", str(bid), db=db_url)[0] == 0
    assert cli("undo", str(bid), db=db_url)[0] == 1


def test_new_user_full_cycle_on_the_command_line(db_url):
    """Empty database → registry, grids and every ledger through the CLI; re-import changes
    nothing; one undo; every count exact (also as `python -m dashboard summary --json` shows it)."""
    steps = [("villages.csv", [], 3), ("grids.geojson", [], 6),
             ("disputes_gbk_title_footer.csv", ["--village", "红旗村"], 4),
             ("disputes_utf8_bom.csv", [], 5), ("disputes_merged_title.xlsx", [], 3),
             ("volunteers_fullwidth.csv", [], 4), ("visits.csv", [], 3)]
    for name, extra, n in steps:
        code, out, err = cli("import", str(D / name), "--json", *extra, db=db_url)
        assert code == 0, (name, out, err)
        assert json.loads(out)["inserted"] == n, name
    for name, extra, n in steps:
        code, out, _ = cli("import", str(D / name), "--json", *extra, db=db_url)
        obj = json.loads(out)
        assert (code, obj["inserted"], obj["updated"], obj["unchanged"]) == (0, 0, 0, n), name
    code, out, _ = cli("batches", "--json", db=db_url)
    visits_batch = [b for b in json.loads(out) if b["kind"] == "visits" and b["inserted"] == 3][0]
    assert cli("undo", str(visits_batch["id"]), db=db_url)[0] == 0
    p = subprocess.run([sys.executable, "-m", "dashboard", "summary", "--json", "--db", db_url],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert json.loads(p.stdout) == {"villages": 3, "grids": 6, "disputes": 12,
                                    "volunteer_activities": 4, "representative_visits": 0}


def test_rename_onto_an_existing_name_is_refused(registry):
    with registry.connect() as c:
        code1 = c.execute(sa.select(S.grid.c.code).where(S.grid.c.code.like("%20101"))).scalar_one()
    data = f"所属村,网格名称,网格编号\n红旗村,第2网格,{code1}\n".encode()
    before = snapshot(registry)
    res = loaders.import_file(registry, data, "g.csv", kind="grids")
    assert errs(res) == [(2, "name_taken")] and res.errors[0]["column"] == "网格名称"
    assert snapshot(registry) == before
    res = loaders.import_file(registry, f"所属村,网格名称,网格编号\n红旗村,第九网格,{code1}\n".encode(),
                              "g.csv", kind="grids")
    assert (res.updated, res.errors) == (1, [])  # a rename by code; 第九网格 → 第9网格
    with registry.connect() as c:
        assert c.execute(sa.select(S.grid.c.name).where(S.grid.c.code == code1)).scalar_one() == "第9网格"


def test_cli_rebuilds_stale_aggregates_after_writing(registry, db_url):
    """A bulk load commits with the aggregates stale; the command line rebuilds them after the
    commit (--no-refresh leaves them for `python -m dashboard aggregates`). Made stale here by a
    hand-written row, as a bulk load would leave them."""
    from dashboard import aggregates
    from dashboard.db.engine import write_txn
    import sqlalchemy as sa
    from dashboard.db import schema as S

    def stale():
        with write_txn(registry) as c:
            vid = c.execute(sa.select(S.village.c.id)).scalars().first()
            c.execute(sa.insert(S.dispute).values(case_no=f"HAND-{stale.n}", village_id=vid, category="其他",
                                                  reported_on=date(2025, 5, 5), status="received"))
        stale.n += 1
        with registry.connect() as c:
            assert not aggregates.is_fresh(c)
    stale.n = 0

    stale()
    code, out, _ = cli("import", str(D / "visits.csv"), "--json", "--no-refresh", db=db_url)
    assert code == 0 and json.loads(out)["aggregates_rebuilt_s"] is None
    with registry.connect() as c:
        assert not aggregates.is_fresh(c)
    code, out, _ = cli("import", str(D / "volunteers_fullwidth.csv"), "--json", db=db_url)
    assert code == 0 and json.loads(out)["aggregates_rebuilt_s"] >= 0
    with registry.connect() as c:
        assert aggregates.is_fresh(c)
        assert aggregates.snapshot(c) == aggregates.recomputed(c)
    stale()
    code, out, _ = cli("import", str(D / "disputes_utf8_bom.csv"), "--lang", "zh", db=db_url)
    assert code == 0 and "汇总数据已按新数据重建" in out
