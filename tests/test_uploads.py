"""The upload service (dashboard.uploads): the role and the kind before any parsing, an audit
row for every import (the command line's with the operating-system user, a crashed one's
too), probing another village's grids audited, a file titled for another village flagged."""
import getpass
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard import auth, uploads
from dashboard.db import schema as S
from dashboard.db.engine import write_txn

loaders = pytest.importorskip("loaders")
DATA = Path(__file__).resolve().parent / "data" / "loaders"
PW = "correct-horse-battery"
HEAD = "纠纷编号,村(社区),网格,类别,排查日期,当事人数,状态\n"


def imp(engine, data, name, user, **options):
    return uploads.run_import(engine, loaders.ImportContext(data, name, **options), user)


@pytest.fixture
def town(engine):
    with write_txn(engine) as c:
        auth.create_user(c, "root", PW, "admin")
    root = _user(engine, "root")
    assert imp(engine, (DATA / "villages.csv").read_bytes(), "villages.csv", root).ok
    with write_txn(engine) as c:
        auth.create_user(c, "wen", PW, "clerk", auth.resolve_villages(c, ["红旗村"]))
        js = auth.resolve_villages(c, ["建设村"])[0]
        c.execute(sa.insert(S.grid).values(village_id=js, code="JS-G01", name="第1网格"))
    return engine, {"root": root, "wen": _user(engine, "wen")}


def _user(engine, name):
    with engine.connect() as c:
        return auth.get_user(c, name)


def audits(engine, **f):
    with engine.connect() as c:
        return auth.audit_rows(c, f)


@pytest.mark.parametrize("name", ["grids.geojson", "big.json", "shapes.zip", "grid.shp"])
def test_a_clerks_boundary_file_is_refused_by_its_name_before_it_is_read(town, monkeypatch, name):
    engine, u = town
    from loaders import read

    def never(*a, **k):
        raise AssertionError("the file was parsed before the permission check")
    monkeypatch.setattr(read, "read", never)
    monkeypatch.setattr(loaders, "import_file", never)
    for dry in (True, False):
        r = imp(engine, b"{" * 1000, name, u["wen"], dry_run=dry)
        assert r.refused == "forbidden" and r.errors[0]["message"] == "当前账号无权执行此操作。"
    a = audits(engine, username="wen")
    assert [(x["action"], bool(x["ok"])) for x in a] == [("upload", False), ("upload_check", False)]
    assert '"refused": "forbidden"' in a[0]["detail"]


def test_a_clerk_choosing_the_grid_kind_is_refused_before_the_file_is_read(town, monkeypatch):
    engine, u = town
    monkeypatch.setattr(loaders, "import_file", lambda *a, **k: pytest.fail("parsed"))
    assert imp(engine, b"x,y\n1,2\n", "grids.csv", u["wen"], kind="grids").refused == "forbidden"


def test_the_command_line_audits_its_import_with_the_os_user(town, db_url, tmp_path, capsys):
    from loaders.__main__ import main
    f = tmp_path / "hq.csv"
    f.write_text(HEAD + "HQ-1,红旗村,,邻里纠纷,2024-03-05,2,已受理\n", encoding="utf-8")
    assert main(["import", str(f), "--db", db_url, "--json"]) == 0
    a = audits(town[0], action="upload")[0]
    me = f"cli:{getpass.getuser()}"
    assert (a["username"], bool(a["ok"])) == (me, True) and '"inserted": 1' in a["detail"]
    with town[0].connect() as c:
        bid, who = c.execute(sa.select(S.import_batch.c.id, S.import_batch.c.username)
                             .order_by(S.import_batch.c.id.desc())).first()
    assert who == me
    assert main(["undo", str(bid), "--db", db_url, "--json"]) == 0
    assert audits(town[0], action="undo_import")[0]["username"] == me


def test_a_crashed_upload_leaves_its_audit_row(town, monkeypatch):
    """The row is committed before the work starts: a process killed during the import keeps it."""
    engine, u = town
    seen = {}

    def crash(eng, ctx):
        seen["rows"] = [(r["action"], r["detail"]) for r in audits(engine, username="wen")]
        raise KeyboardInterrupt  # what a kill looks like from inside: the work never returns
    monkeypatch.setattr(loaders, "import_file", crash)
    with pytest.raises(KeyboardInterrupt):
        imp(engine, (HEAD + "HQ-1,红旗村,,邻里纠纷,2024-03-05,2,已受理\n").encode(), "hq.csv", u["wen"],
            kind="disputes")
    assert seen["rows"][0][0] == "upload" and '"state": "started"' in seen["rows"][0][1]
    a = audits(engine, username="wen")
    assert len(a) == 1 and not a[0]["ok"]
    assert '"state": "crashed"' in a[0]["detail"] and '"error": "KeyboardInterrupt"' in a[0]["detail"]


def test_probing_another_villages_grid_codes_is_audited(town):
    engine, u = town
    r = imp(engine, (HEAD + "HQ-1,红旗村,JS-G01,邻里纠纷,2024-03-05,2,已受理\n").encode(), "probe.csv",
            u["wen"], dry_run=True)
    assert not r.ok and r.errors[0]["code"] == "grid_other_village"
    a = audits(engine, username="wen", action="upload_check")
    assert len(a) == 1 and '"foreign_grid": true' in a[0]["detail"]


def test_a_file_titled_for_another_village_is_flagged(town):
    engine, u = town
    body = ("建设村2024年一季度矛盾纠纷排查台账\n纠纷编号,类别,排查日期,当事人数,状态\n"
            "X-1,邻里纠纷,2024-03-05,2,已受理\n").encode()
    r = imp(engine, body, "台账.csv", u["wen"], village="红旗村")
    assert r.refused == "title_other_village" and r.batch_id is None
    assert r.errors[0]["message"] == ("文件标题写的是“建设村”，所选的村（社区）是“红旗村”：请确认这是哪个村（社区）"
                                      "的台账，选对村（社区）或改正标题后再上传。")
    ok = imp(engine, body.replace("建设村".encode(), "红旗村".encode()), "台账.csv", u["wen"], village="红旗村")
    assert ok.ok and ok.inserted == 1
