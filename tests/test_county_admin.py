"""Administration per township: townships added and renamed by the county administrator only,
accounts managed per township (a township administrator reaches only their township's users,
refused and audited in the core otherwise), and the 系统管理 page for a county and a township
administrator. The county is two townships through the real intake (tests/test_county_intake.py):
本乡镇 (A, 360121105000) and 白云镇 (B, 360121106000), each 3 villages and 6 grids."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import auth, townships
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.errors import UserError
from dashboard.ui import nav
from test_county_intake import load_a, load_b

pytestmark = pytest.mark.usefixtures("fresh_cache")

A, B = "360121105000", "360121106000"
PW = "correct-horse-battery"
# (role, township code or None = the county, or the village code for a clerk)
USERS = {"root": ("admin", None), "adm_a": ("admin", A), "adm_b": ("admin", B),
         "lead_a": ("leader", A), "lead_b": ("leader", B), "boss": ("leader", None),
         "clerk_a": ("clerk", "360121105201"), "clerk_b": ("clerk", "360121106202")}
PLACE = {"root": None, "adm_a": A, "adm_b": B, "lead_a": A, "lead_b": B, "boss": None,
         "clerk_a": A, "clerk_b": B}


def _ids(conn):
    tid = dict(conn.execute(sa.select(S.township.c.code, S.township.c.id)).all())
    vid = dict(conn.execute(sa.select(S.village.c.code, S.village.c.id)).all())
    return tid, vid


def _build(engine):
    load_a(engine)
    load_b(engine)
    with write_txn(engine) as c:
        tid, vid = _ids(c)
        for name, (role, place) in USERS.items():
            if role == "clerk":
                auth.create_user(c, name, PW, role, [vid[place]])
            else:
                auth.create_user(c, name, PW, role, township_ids=[tid[place]] if place else ())


@pytest.fixture
def county(engine):
    _build(engine)
    return engine


def user(engine, name):
    with engine.connect() as c:
        return auth.get_user(c, name)


def last_audit(engine):
    with engine.connect() as c:
        r = auth.audit_rows(c, {"limit": 1})[0]
    return r["username"], r["action"], bool(r["ok"]), json.loads(r["detail"])


# ---------------------------------------------------------------- core: who manages whom

ACTORS = ("root", "adm_a", "adm_b")
TARGETS = ("lead_a", "clerk_a", "lead_b", "clerk_b", "boss")


def allowed(actor, target):
    return PLACE[actor] is None or PLACE[actor] == PLACE[target]


@pytest.mark.parametrize("actor", ACTORS)
def test_role_by_place_matrix_of_user_changes(county, actor):
    """Every change on every target: allowed inside the actor's place, refused outside it with
    the target unchanged and a refused audit row."""
    me = user(county, actor)
    with county.connect() as c:
        tid, vid = _ids(c)
    for target in TARGETS:
        role, place = USERS[target]
        before = user(county, target)
        scope = ([vid[place]], ()) if role == "clerk" else ((), [tid[place]] if place else ())
        ops = [("user_disable", auth.set_disabled, (target, True), {}),
               ("user_enable", auth.set_disabled, (target, False), {}),
               ("user_password", auth.set_password, (target, "another-long-password"), {}),
               ("user_role", auth.set_role, (target, role, scope[0]), {"township_ids": scope[1]})]
        for action, fn, args, kw in ops:
            if allowed(actor, target):
                auth.manage(county, me, action, fn, *args, **kw)
                assert last_audit(county)[:3] == (actor, action, True), (actor, target, action)
            else:
                with pytest.raises(UserError) as e:
                    auth.manage(county, me, action, fn, *args, **kw)
                assert e.value.key == "auth.outside_township"
                assert last_audit(county) == (actor, action, False,
                                              {"user": target, "reason": "auth.outside_township"})
        after = user(county, target)
        assert after["disabled"] is False and after["township_ids"] == before["township_ids"]
        assert after["village_ids"] == before["village_ids"]
        with county.connect() as c:
            ok = auth.authenticate(c, target, "another-long-password").ok
        assert ok is allowed(actor, target), (actor, target)


def test_a_township_admin_gives_only_scopes_inside_their_township(county):
    adm_a = user(county, "adm_a")
    with county.connect() as c:
        tid, vid = _ids(c)
    cases = [  # (name, role, villages, townships, refusal or None)
        ("new_clerk_a", "clerk", [vid["360121105202"]], (), None),
        ("new_lead_a", "leader", [], [tid[A]], None),
        ("new_clerk_b", "clerk", [vid["360121106202"]], (), "auth.scope_outside"),
        ("new_clerk_ab", "clerk", [vid["360121105202"], vid["360121106202"]], (), "auth.scope_outside"),
        ("new_lead_b", "leader", [], [tid[B]], "auth.scope_outside"),
        ("new_county", "leader", [], (), "auth.scope_outside"),
        ("new_admin_ab", "admin", [], [tid[A], tid[B]], "auth.scope_outside"),
    ]
    for name, role, villages, towns, refusal in cases:
        if refusal is None:
            auth.manage(county, adm_a, "user_add", auth.create_user, name, PW, role, villages,
                        township_ids=towns)
            assert last_audit(county)[:3] == ("adm_a", "user_add", True)
        else:
            with pytest.raises(UserError) as e:
                auth.manage(county, adm_a, "user_add", auth.create_user, name, PW, role, villages,
                            township_ids=towns)
            assert e.value.key == refusal
            assert last_audit(county) == ("adm_a", "user_add", False, {"user": name, "reason": refusal})
            assert user(county, name) is None
    # moving their own township's leader to the other township, or to the county: refused
    for towns in ([tid[B]], ()):
        with pytest.raises(UserError) as e:
            auth.manage(county, adm_a, "user_role", auth.set_role, "lead_a", "leader",
                        township_ids=towns)
        assert e.value.key == "auth.scope_outside"
    assert user(county, "lead_a")["township_ids"] == (tid[A],)
    # the county administrator gives any place, the county included
    auth.manage(county, user(county, "root"), "user_role", auth.set_role, "lead_a", "leader")
    assert user(county, "lead_a")["township_ids"] is None


def test_only_administrators_manage_accounts_in_the_core(county):
    """A leader's or clerk's user dict reaching the core (a crafted call) is refused."""
    for name in ("lead_a", "boss", "clerk_a"):
        with pytest.raises(UserError) as e:
            auth.manage(county, user(county, name), "user_disable", auth.set_disabled, "clerk_a", True)
        assert e.value.key == "auth.forbidden"
        with pytest.raises(UserError) as e:
            auth.manage(county, user(county, name), "user_add", auth.create_user, "x" + name, PW,
                        "leader")
        assert e.value.key == "auth.forbidden"
    assert user(county, "clerk_a")["disabled"] is False


def test_a_township_admin_lists_only_their_townships_users(county):
    with county.connect() as c:
        listed = {n: [u["username"] for u in auth.list_users(c, user(county, n))]
                  for n in ACTORS}
        shell = [u["username"] for u in auth.list_users(c)]
    assert listed["root"] == shell == sorted(USERS)
    assert listed["adm_a"] == ["adm_a", "clerk_a", "lead_a"]
    assert listed["adm_b"] == ["adm_b", "clerk_b", "lead_b"]


# ---------------------------------------------------------------- core: townships

def test_townships_listing_per_scope(county):
    with county.connect() as c:
        everyone = townships.listing(c)
        mine = townships.listing(c, user(county, "adm_b"))
    assert [(t["name"], t["code"], t["villages"], t["grids"], t["users"]) for t in everyone] == [
        ("本乡镇", A, 3, 6, 3), ("白云镇", B, 3, 6, 3)]
    assert [t["name"] for t in mine] == ["白云镇"]


def test_county_admin_adds_and_renames_townships_audited(county):
    root = user(county, "root")
    auth.manage(county, root, townships.ADD, townships.add, "青山镇", "360121107000")
    assert last_audit(county) == ("root", "township_add", True,
                                  {"township": "青山镇", "code": "360121107000"})
    refusals = [(("青山镇", "360121108000"), "township.name_taken"),
                (("绿水镇", "360121107000"), "township.code_taken"),
                (("绿水镇", "36012110700"), "township.bad_code"),
                (("绿水镇", "36012110700x"), "township.bad_code"),
                (("  ", "360121108000"), "township.bad_name"),
                (("镇" * 101, "360121108000"), "township.bad_name")]
    for args, key in refusals:
        with pytest.raises(UserError) as e:
            auth.manage(county, root, townships.ADD, townships.add, *args)
        assert e.value.key == key
        assert last_audit(county)[:3] == ("root", "township_add", False)
    with county.connect() as c:
        tid, _ = _ids(c)
    auth.manage(county, root, townships.RENAME, townships.rename, tid[B], "白云街道")
    assert last_audit(county) == ("root", "township_rename", True,
                                  {"township": "白云街道", "old": "白云镇", "code": B})
    with pytest.raises(UserError) as e:
        auth.manage(county, root, townships.RENAME, townships.rename, tid[B], "本乡镇")
    assert e.value.key == "township.name_taken"
    with county.connect() as c:
        got = [(t["name"], t["code"], t["villages"], t["users"]) for t in townships.listing(c)]
    assert got == [("本乡镇", A, 3, 3), ("白云街道", B, 3, 3), ("青山镇", "360121107000", 0, 0)]


def test_a_township_admin_adds_and_renames_no_township(county):
    adm_a = user(county, "adm_a")
    with county.connect() as c:
        tid, _ = _ids(c)
    for action, fn, args in ((townships.ADD, townships.add, ("青山镇", "360121107000")),
                             (townships.RENAME, townships.rename, (tid[A], "红星镇"))):
        with pytest.raises(UserError) as e:
            auth.manage(county, adm_a, action, fn, *args)
        assert e.value.key == "auth.forbidden"
        assert last_audit(county) == ("adm_a", action, False,
                                      {"township": args[0], "reason": "auth.forbidden"})
    with county.connect() as c:
        assert [t["name"] for t in townships.listing(c)] == ["本乡镇", "白云镇"]


def test_a_registry_import_and_the_admin_page_add_townships_the_same_way(county):
    """The registry's new township went through townships.insert: a later hand-made one with
    its code or name is refused as taken."""
    root = user(county, "root")
    for args, key in ((("白云镇", "360121199000"), "township.name_taken"),
                      (("黑山镇", B), "township.code_taken")):
        with pytest.raises(UserError) as e:
            auth.manage(county, root, townships.ADD, townships.add, *args)
        assert e.value.key == key


# ---------------------------------------------------------------- the 系统管理 page

def admin_page(engine, name: str) -> AppTest:
    from dashboard.ui import auth as auth_ui
    with engine.connect() as c:
        token = auth.issue_session(c, auth.get_user(c, name), 30)
    at = AppTest.from_file(str(nav.ROOT / "pages/admin.py"), default_timeout=120)
    at.session_state["lang"] = "zh"
    at.session_state[auth_ui.TOKEN_KEY] = token
    return at.run()


@pytest.fixture
def county_env(county, db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "on")
    return county


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def frames(at):
    return [df.value for df in at.dataframe]


def test_admin_page_for_the_county_admin(county_env):
    at = admin_page(county_env, "root")
    _ok(at)
    assert [t.label for t in at.tabs] == ["用户", "乡镇（街道）", "操作日志", "上传记录"]
    users, towns = frames(at)[:2]
    assert users["用户名"].tolist() == sorted(USERS)
    assert dict(zip(users["用户名"], users["乡镇（街道）"])) == {
        "adm_a": "本乡镇", "adm_b": "白云镇", "boss": "全县", "clerk_a": "本乡镇",
        "clerk_b": "白云镇", "lead_a": "本乡镇", "lead_b": "白云镇", "root": "全县"}
    assert towns.values.tolist() == [["本乡镇", A, 3, 6, 3], ["白云镇", B, 3, 6, 3]]
    assert list(towns.columns) == ["名称", "区划代码", "村（社区）数", "网格数", "账号数"]
    assert at.selectbox(key="add_township").options == ["全县", "本乡镇", "白云镇"]
    # a township added through its form shows in the table in the same run, and is audited
    form = {w.label: w for w in at.text_input}
    form["名称"].input("青山镇")
    form["12 位区划代码"].input("360121107000")
    next(b for b in at.button if b.label == "新增" and "add_township" in b.form_id).click()
    at.run()
    _ok(at)
    assert [s.value for s in at.success] == ["已完成：新增乡镇（街道）"]
    assert frames(at)[1].values.tolist()[-1] == ["青山镇", "360121107000", 0, 0, 0]
    assert last_audit(county_env) == ("root", "township_add", True,
                                      {"township": "青山镇", "code": "360121107000"})
    # a leader given a township through the add-user form
    at = admin_page(county_env, "root")
    form = {w.label: w for w in at.text_input}
    form["用户名"].input("lead_q")
    form["密码"].input(PW)
    form["再次输入密码"].input(PW)
    next(w for w in at.selectbox if w.label == "角色" and w.key is None).set_value("leader")
    at.selectbox(key="add_township").set_value(_ids_of(county_env)["360121107000"])
    next(b for b in at.button if b.label == "新增" and "add_user" in b.form_id).click()
    at.run()
    _ok(at)
    assert user(county_env, "lead_q")["township_codes"] == ("360121107000",)


def _ids_of(engine):
    with engine.connect() as c:
        return _ids(c)[0]


def test_admin_page_for_a_township_admin(county_env):
    at = admin_page(county_env, "adm_b")
    _ok(at)
    assert [t.label for t in at.tabs] == ["用户", "乡镇（街道）", "上传记录"]
    users, towns = frames(at)[:2]
    assert users["用户名"].tolist() == ["adm_b", "clerk_b", "lead_b"]
    assert set(users["乡镇（街道）"]) == {"白云镇"}
    assert at.selectbox(key="add_township").options == ["白云镇"]
    assert towns.values.tolist() == [["白云镇", B, 3, 6, 3]]
    # the uploads tab lists their township's files (each names several villages: placed in the
    # township by import_batch.township_id), none of A's
    assert [i.value for i in at.info] == ["新增和改名乡镇（街道）由县级管理员办理。"]
    assert len(at.dataframe) == 3
    files = set(at.dataframe[2].value["文件名"])
    assert files == {"villages_b.csv", "grids.geojson", "disputes_b.csv", "visits_b.csv"}, files
    assert not [b for b in at.button if b.form_id in ("add_township", "rename_township")]
    change = next(w for w in at.selectbox if w.label == "用户")
    assert change.options == ["adm_b", "clerk_b", "lead_b"]
    with pytest.raises(UserError):     # what the page does not offer, the core refuses
        auth.manage(county_env, user(county_env, "adm_b"), "user_disable", auth.set_disabled,
                    "clerk_a", True)
    assert user(county_env, "clerk_a")["disabled"] is False
    # a leader for their township, added through the form (the township is the only choice)
    form = {w.label: w for w in at.text_input}
    form["用户名"].input("lead_b2")
    form["密码"].input(PW)
    form["再次输入密码"].input(PW)
    next(w for w in at.selectbox if w.label == "角色" and w.key is None).set_value("leader")
    next(b for b in at.button if b.label == "新增" and "add_user" in b.form_id).click()
    at.run()
    _ok(at)
    assert user(county_env, "lead_b2")["township_codes"] == (B,)
    assert last_audit(county_env)[:3] == ("adm_b", "user_add", True)


def test_a_townships_files_of_several_villages_are_its_admins(county):
    """A file covering a township's villages has no village on its batch; its township is on
    it, so that township's administrator sees (and may undo) it, the other's does not."""
    from dashboard import uploads
    with county.connect() as c:
        tid, _ = _ids(c)
        rows = c.execute(sa.select(S.import_batch.c.file_name, S.import_batch.c.village_id,
                                   S.import_batch.c.township_id)).all()
        placed = {f: t for f, v, t in rows if v is None}
        adm_a, adm_b, root = (auth.get_user(c, n) for n in ("adm_a", "adm_b", "root"))
        # every file of the fixture covers several villages; each is placed in its township
        assert placed["villages_b.csv"] == placed["disputes_b.csv"] == tid[B]
        assert placed["villages.csv"] == tid[A]
        b_files = {r["file_name"] for r in uploads.batches(c, adm_b)}
        a_files = {r["file_name"] for r in uploads.batches(c, adm_a)}
        assert {"villages_b.csv", "disputes_b.csv", "visits_b.csv"} <= b_files
        assert not b_files & {"villages.csv", "disputes_utf8_bom.csv"}
        assert "villages.csv" in a_files and not a_files & {"villages_b.csv", "disputes_b.csv"}
        everything = {r["file_name"] for r in uploads.batches(c, root)}
        assert everything >= a_files | b_files
        hist_b = {r["file_name"] for r in uploads.history(
            c, village_ids=auth.visible_village_ids(adm_b), township_ids=auth.visible_township_ids(adm_b))}
        assert hist_b == b_files


def _page(engine, path: str, name: str) -> AppTest:
    from dashboard.ui import auth as auth_ui
    with engine.connect() as c:
        token = auth.issue_session(c, auth.get_user(c, name), 30)
    at = AppTest.from_file(str(nav.ROOT / path), default_timeout=120)
    at.session_state["lang"] = "zh"
    at.session_state[auth_ui.TOKEN_KEY] = token
    return at.run()


def test_a_township_added_before_its_villages_breaks_no_page(county_env):
    """A tester added 测试新镇 on the admin page (no villages yet): 县级总览 failed for everyone
    and its own admin's 总览 too (an empty village list made ``village_id IN 1 = 0``)."""
    from dashboard.db.engine import bump_version
    with write_txn(county_env) as c:
        tid = townships.add(c, "测试新镇", "360122120000", actor="root")
        auth.create_user(c, "adm_new", PW, "admin", township_ids=[tid])
        bump_version(c)
    for path in ("pages/county.py", "pages/overview.py", "pages/disputes.py", "pages/completeness.py"):
        _ok(_page(county_env, path, "root"))
    for path in ("pages/overview.py", "pages/disputes.py", "pages/village.py", "pages/map.py",
                 "pages/meeting.py", "pages/completeness.py", "pages/admin.py"):
        at = _page(county_env, path, "adm_new")
        _ok(at)
    county = _page(county_env, "pages/county.py", "root")
    assert "测试新镇" in " ".join(str(d.value.to_string()) for d in county.dataframe)
