"""Uploads and undo on behalf of logged-in users: scope by role, refusals change nothing, audit."""
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard import auth, uploads
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.errors import UserError
from dashboard.queries.summary import counts

loaders = pytest.importorskip("loaders")
DATA = Path(__file__).resolve().parent / "data" / "loaders"
PW = "correct-horse-battery"
HEAD = "纠纷编号,村(社区),类别,排查日期,当事人数,状态\n"


def imp(engine, data: bytes, name: str, user, **options):
    return uploads.run_import(engine, loaders.ImportContext(data, name, **options), user)


def csv(*rows: str) -> bytes:
    return (HEAD + "".join(r + "\n" for r in rows)).encode("utf-8")


OWN = "HQ-1,红旗村,邻里纠纷,2024-03-05,2,已受理"
OWN2 = "HQ-2,红旗村,土地流转,2024-03-07,2,已受理"
FOREIGN = "JS-1,建设村,邻里纠纷,2024-03-06,2,已受理"


@pytest.fixture
def town(engine):
    """Villages 红旗村, 建设村, 东湖社区 loaded by an admin; a clerk for each of the first two; a leader."""
    with write_txn(engine) as c:
        auth.create_user(c, "root", PW, "admin")
    users = {"root": user(engine, "root")}
    r = imp(engine, (DATA / "villages.csv").read_bytes(), "villages.csv", users["root"])
    assert r.ok and r.inserted == 3, r.errors
    with write_txn(engine) as c:
        auth.create_user(c, "wen", PW, "clerk", auth.resolve_villages(c, ["红旗村"]))
        auth.create_user(c, "jian", PW, "clerk", auth.resolve_villages(c, ["建设村"]))
        auth.create_user(c, "boss", PW, "leader")
    users.update({n: user(engine, n) for n in ("wen", "jian", "boss")})
    return engine, users


def user(engine, name):
    with engine.connect() as c:
        return auth.get_user(c, name)


def state(engine):
    with engine.connect() as c:
        n_batches = c.execute(sa.select(sa.func.count()).select_from(S.import_batch)).scalar_one()
        return counts(c), n_batches


def last_audit(engine, **f):
    with engine.connect() as c:
        return auth.audit_rows(c, f)[0]


def test_clerk_uploads_for_own_village(town):
    engine, u = town
    r = imp(engine, csv(OWN, OWN2), "hq.csv", u["wen"])
    assert r.ok and r.inserted == 2 and r.batch_id
    with engine.connect() as c:
        b = c.execute(sa.select(S.import_batch).where(S.import_batch.c.id == r.batch_id)).mappings().one()
    assert b["username"] == "wen" and b["village_id"] == u["wen"]["village_ids"][0]
    a = last_audit(engine)
    assert (a["username"], a["action"], bool(a["ok"])) == ("wen", "upload", True)
    assert '"inserted": 2' in a["detail"] and "hq.csv" in a["detail"]


@pytest.mark.parametrize("rows", [(FOREIGN,), (OWN, FOREIGN)], ids=["foreign-only", "mixed"])
def test_crafted_file_naming_another_village_is_refused_and_changes_nothing(town, rows):
    engine, u = town
    before = state(engine)
    r = imp(engine, csv(*rows), "crafted.csv", u["wen"])
    assert not r.ok and r.batch_id is None and r.inserted == 0
    assert any(e["code"] == "not_allowed" and e["value"] == "建设村" for e in r.errors)
    assert state(engine) == before
    a = last_audit(engine)
    assert (a["username"], a["action"], bool(a["ok"])) == ("wen", "upload", False)
    assert '"foreign_village": true' in a["detail"]


def test_village_parameter_for_another_village_is_refused(town):
    engine, u = town
    before = state(engine)
    body = "纠纷编号,类别,排查日期,当事人数,状态\nX-1,邻里纠纷,2024-03-05,2,已受理\n".encode()
    r = imp(engine, body, "nov.csv", u["wen"], village="建设村")
    assert not r.ok and r.refused and state(engine) == before
    assert not last_audit(engine)["ok"]


def test_dry_run_of_a_crafted_file_is_audited_a_clean_one_is_not(town):
    engine, u = town
    before = state(engine)
    with engine.connect() as c:
        n = len(auth.audit_rows(c, {}))
    r = imp(engine, csv(OWN), "hq.csv", u["wen"], dry_run=True)
    assert r.ok and r.inserted == 1 and r.batch_id is None and state(engine) == before
    with engine.connect() as c:
        assert len(auth.audit_rows(c, {})) == n
    imp(engine, csv(FOREIGN), "crafted.csv", u["wen"], dry_run=True)
    a = last_audit(engine)
    assert (a["action"], bool(a["ok"])) == ("upload_check", False) and state(engine) == before


@pytest.mark.parametrize("kind", ["villages", None], ids=["explicit", "detected"])
def test_clerk_cannot_change_the_registry(town, kind):
    engine, u = town
    before = state(engine)
    body = (DATA / "villages_corrected.csv").read_bytes()
    r = imp(engine, body, "villages.csv", u["wen"], kind=kind)
    assert r.refused == "forbidden" and not r.ok and state(engine) == before
    a = last_audit(engine)
    assert (a["username"], a["action"], bool(a["ok"])) == ("wen", "upload", False)
    assert '"kind": "villages"' in a["detail"]


def test_clerk_cannot_upload_grid_boundaries(town):
    engine, u = town
    before = state(engine)
    r = imp(engine, (DATA / "grids.geojson").read_bytes(), "grids.geojson", u["wen"],
                            kind="grids")
    assert r.refused == "forbidden" and state(engine) == before


def test_leader_changes_nothing(town):
    engine, u = town
    before = state(engine)
    r = imp(engine, csv(OWN), "hq.csv", u["boss"])
    assert r.refused == "forbidden" and r.errors[0]["message"] == "当前账号无权执行此操作。"
    assert state(engine) == before
    assert (last_audit(engine)["username"], last_audit(engine)["ok"]) == ("boss", False)
    ok = imp(engine, csv(OWN), "hq.csv", u["wen"])
    with pytest.raises(UserError) as e:
        uploads.undo(engine, ok.batch_id, u["boss"])
    assert e.value.key == "auth.forbidden"
    a = last_audit(engine)
    assert (a["username"], a["action"], bool(a["ok"])) == ("boss", "undo_import", False)
    with engine.connect() as c:
        assert c.execute(sa.select(S.import_batch.c.state)
                         .where(S.import_batch.c.id == ok.batch_id)).scalar_one() == "applied"


def test_clerk_undoes_own_batch_but_not_another_villages(town):
    engine, u = town
    mine = imp(engine, csv(OWN), "hq.csv", u["wen"])
    theirs = imp(engine, csv(FOREIGN), "js.csv", u["jian"])
    assert mine.ok and theirs.ok
    before = state(engine)
    with pytest.raises(UserError):
        uploads.undo(engine, theirs.batch_id, u["wen"])
    assert state(engine) == before
    a = last_audit(engine)
    assert (a["username"], a["action"], bool(a["ok"])) == ("wen", "undo_import", False)
    uploads.undo(engine, mine.batch_id, u["wen"])
    with engine.connect() as c:
        st = dict(c.execute(sa.select(S.import_batch.c.id, S.import_batch.c.state)).all())
    assert st[mine.batch_id] == "undone" and st[theirs.batch_id] == "applied"
    a = last_audit(engine)
    assert (a["username"], a["action"], bool(a["ok"])) == ("wen", "undo_import", True)


def test_admin_uploads_and_undoes_for_any_village(town):
    engine, u = town
    r = imp(engine, csv(OWN, FOREIGN), "all.csv", u["root"])
    assert r.ok and r.inserted == 2
    theirs = imp(engine, csv("JS-9,建设村,邻里纠纷,2024-03-09,2,已受理"), "js.csv", u["jian"])
    uploads.undo(engine, theirs.batch_id, u["root"])
    with engine.connect() as c:
        assert c.execute(sa.select(S.import_batch.c.state)
                         .where(S.import_batch.c.id == theirs.batch_id)).scalar_one() == "undone"
        history = uploads.history(c)
    assert {h["username"] for h in history} == {"root", "jian"}
    assert {h["village"] for h in history if h["username"] == "jian"} == {"建设村"}


def test_audit_log_shows_the_whole_story(town):
    engine, u = town
    with write_txn(engine) as c:
        auth.authenticate(c, "wen", PW)
        auth.authenticate(c, "wen", "wrong-password")
    ok = imp(engine, csv(OWN), "hq.csv", u["wen"])
    imp(engine, csv(FOREIGN), "crafted.csv", u["wen"])
    uploads.undo(engine, ok.batch_id, u["wen"])
    with engine.connect() as c:
        rows = auth.audit_rows(c, {"username": "wen"})
    assert [(r["action"], bool(r["ok"])) for r in reversed(rows)] == [
        ("login", True), ("login", False), ("upload", True), ("upload", False), ("undo_import", True)]
    assert all(r["at"] is not None for r in rows)


def test_upload_leaves_the_aggregates_fresh(town, monkeypatch):
    """A bulk load commits with the pre-aggregates stale (lowered threshold here); the upload
    rebuilds them after its commit, so the pages read packs again, equal to the raw rows."""
    from dashboard import aggregates
    from loaders import ingest
    engine, u = town
    monkeypatch.setattr(ingest, "REFRESH_MAX_ROWS", 1)
    r = imp(engine, csv(OWN, OWN2), "hq.csv", u["wen"])
    assert r.ok and r.inserted == 2
    with engine.connect() as c:
        assert aggregates.is_fresh(c)
        assert aggregates.snapshot(c) == aggregates.recomputed(c)
