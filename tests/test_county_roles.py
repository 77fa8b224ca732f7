"""Roles as places: role × place × page through AppTest on a county of two townships that
share village names (both imported through the real intake, tests/test_county_intake.py).

A county leader sees the county and may choose a township; a township leader or admin sees
their township only; a clerk sees the township of their village. A link or filter naming the
other township returns none of its data and is audited (scope_denied)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import auth
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.ui import nav
from test_county_intake import load_a, load_b

pytestmark = pytest.mark.usefixtures("fresh_cache")

A, B = "360121105000", "360121106000"          # 本乡镇 and 白云镇, each with 红旗村/建设村/东湖社区
PW = "correct-horse-battery"
PAGES = ("overview", "disputes", "volunteers", "visits", "village", "map", "meeting", "completeness")
# what each user should see: the townships' disputes in 2024 are 5 (A) and 6 (B)
USERS = {"county": (None, 11), "lead_a": (A, 5), "admin_b": (B, 6), "clerk_a": (A, 5)}


@pytest.fixture(scope="module")
def county_url(tmp_path_factory, request):
    """The county database, built once for the module (SQLite file, or the PostgreSQL test DB)."""
    import os

    from dashboard.db import get_engine, migrate
    pg = os.environ.get("TEST_DATABASE_URL")
    if pg:   # a database of its own beside this process's test database
        from conftest import _pg_sibling
        url = _pg_sibling(request.getfixturevalue("_pg_worker_url"), "county")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('county')}/county.db"
    migrate(url)
    engine = get_engine(url)
    load_a(engine)
    load_b(engine)
    with write_txn(engine) as c:
        tid = dict(c.execute(sa.select(S.township.c.code, S.township.c.id)).all())
        hongqi_a = c.execute(sa.select(S.village.c.id).where(
            S.village.c.code == "360121105201")).scalar_one()
        auth.create_user(c, "county", PW, "leader")
        auth.create_user(c, "lead_a", PW, "leader", township_ids=[tid[A]])
        auth.create_user(c, "admin_b", PW, "admin", township_ids=[tid[B]])
        auth.create_user(c, "clerk_a", PW, "clerk", [hongqi_a])
    engine.dispose()
    yield url
    if pg:
        from conftest import _drop_pg
        _drop_pg(url)


@pytest.fixture
def county_env(county_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", county_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "on")
    return county_url


def _engine(url):
    from dashboard.db import get_engine
    return get_engine(url, create=False)


def page(url, name: str, user: str, query: dict | None = None) -> AppTest:
    from dashboard.ui import auth as auth_ui
    eng = _engine(url)
    with eng.connect() as c:
        token = auth.issue_session(c, auth.get_user(c, user), 30)
    at = AppTest.from_file(str(nav.ROOT / f"pages/{name}.py"), default_timeout=120)
    at.session_state["lang"] = "zh"
    at.session_state[auth_ui.TOKEN_KEY] = token
    for k, v in (query or {"period": "2024"}).items():
        at.query_params[k] = v
    return at.run()


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def text(at) -> str:
    parts = [str(getattr(e, "value", "")) for kind in ("markdown", "caption", "metric", "title",
                                                         "subheader", "info", "warning", "error")
             for e in at.get(kind)]
    for df in at.dataframe:
        parts.append(df.value.to_string())
    parts += [str(h.proto.body) for h in at.get("html")]
    parts += [o for sb in at.selectbox for o in sb.options]
    parts += [o for ms in at.multiselect for o in ms.options]
    return "\n".join(parts)


def disputes_card(at) -> str:
    return next(m.value for m in at.metric if m.label == "受理纠纷")


def audits(url, action="scope_denied") -> list[tuple]:
    with _engine(url).connect() as c:
        return [(r["username"], r["detail"]) for r in auth.audit_rows(c, {"action": action})]


@pytest.mark.parametrize("user", list(USERS))
@pytest.mark.parametrize("name", PAGES)
def test_every_page_shows_only_the_users_place(county_env, user, name):
    place, disputes = USERS[user]
    at = page(county_env, name, user)
    _ok(at)
    body = text(at)
    other = {A: B, B: A}.get(place)
    if place is None:                          # the county: a township selector, both places
        assert at.selectbox(key="township_pick").options == ["全县", "本乡镇", "白云镇"]
    else:
        assert not [s for s in at.selectbox if s.key == "township_pick"]
        assert other[:9] not in body           # no code of the other township's villages
        if place == A:
            assert "白云镇" not in body
    cards = [m.value for m in at.metric if m.label == "受理纠纷" and name != "village"]
    assert cards in ([], [str(disputes)])     # the page's figures are the place's own
    if name in ("overview", "disputes") and at.multiselect:
        opts = at.multiselect(key="villages").options
        assert sorted(opts) == (sorted(["红旗村（本乡镇）", "建设村（本乡镇）", "东湖社区（本乡镇）",
                                        "红旗村（白云镇）", "建设村（白云镇）", "东湖社区（白云镇）"])
                                if place is None else sorted(["红旗村", "建设村", "东湖社区"]))


@pytest.mark.parametrize("user", list(USERS))
def test_the_reporting_board_lists_the_users_villages_only(county_env, user):
    """报送情况 was the county's board for everyone (its villages by bare name): now the place's."""
    place, _ = USERS[user]
    at = page(county_env, "completeness", user)
    _ok(at)
    board = at.dataframe[0].value
    villages = sorted(board["村（社区）"])
    if place is None:
        assert villages == sorted(["红旗村（本乡镇）", "建设村（本乡镇）", "东湖社区（本乡镇）",
                                   "红旗村（白云镇）", "建设村（白云镇）", "东湖社区（白云镇）"])
    else:
        assert villages == sorted(["红旗村", "建设村", "东湖社区"])
        town = "本乡镇" if place == A else "白云镇"
        assert town in at.code[0].value or "没有" in at.code[0].value   # the reminder signs as the township


@pytest.mark.parametrize("user", list(USERS))
def test_overview_figures_per_place(county_env, user):
    _, disputes = USERS[user]
    at = page(county_env, "overview", user)
    _ok(at)
    assert disputes_card(at) == str(disputes)


def test_county_leader_chooses_a_township(county_env):
    at = page(county_env, "overview", "county")
    with _engine(county_env).connect() as c:
        b_id = c.execute(sa.select(S.township.c.id).where(S.township.c.code == B)).scalar_one()
    at.selectbox(key="township_pick").set_value(b_id).run()
    _ok(at)
    assert disputes_card(at) == "6"
    assert at.query_params["township"] == [B] or at.query_params["township"] == B
    assert sorted(at.multiselect(key="villages").options) == sorted(["东湖社区", "红旗村", "建设村"])
    at = page(county_env, "overview", "county", {"period": "2024", "township": A})
    _ok(at)
    assert disputes_card(at) == "5"


@pytest.mark.parametrize("query", [
    {"period": "2024", "township": B},
    {"period": "2024", "villages": "360121106202"},
    {"period": "2024", "township": B, "villages": "360121106201,360121106202"},
])
def test_a_crafted_link_for_the_other_township_returns_nothing_of_it(county_env, query):
    before = len(audits(county_env))
    at = page(county_env, "overview", "lead_a", query)
    _ok(at)
    assert disputes_card(at) == "5"             # township A's own figures, none of B's
    assert "360121106" not in text(at)
    assert [w.value for w in at.warning] == ["链接或筛选指向您权限以外的乡镇（街道）或村（社区），已忽略并记录。"]
    got = audits(county_env)[: len(audits(county_env)) - before]
    assert got and all(u == "lead_a" for u, _ in got)


def test_a_filter_session_state_for_the_other_township_is_ignored(county_env):
    """A hand-made selection (a crafted widget value) cannot widen the scope either."""
    at = page(county_env, "disputes", "lead_a")
    with _engine(county_env).connect() as c:
        b_ids = tuple(c.execute(sa.select(S.village.c.id).join(S.township).where(
            S.township.c.code == B)).scalars())
    at.session_state["_selection"] = dict(at.session_state["_selection"], villages=b_ids, township=None)
    at.run()
    _ok(at)
    assert "360121106" not in text(at)


def test_township_admin_administers_their_township_only():
    user = {"role": "admin", "township_ids": (2,), "township_codes": (B,),
            "township_village_ids": (4, 5, 6), "village_ids": None}
    assert auth.allowed_village_ids(user) == {4, 5, 6}
    assert auth.can(user, "upload", 4) and not auth.can(user, "upload", 1)
    # their township's accounts (check_target, tests/test_county_admin.py), never the
    # townships themselves or the county's audit log
    assert auth.can(user, "manage_registry") and auth.can(user, "manage_users")
    assert not auth.can(user, "manage_townships") and not auth.can(user, "read_audit")
    assert auth.fixed_township(user) == B
    county = {"role": "admin", "township_ids": None, "village_ids": None}
    assert auth.allowed_village_ids(county) is None and auth.can(county, "manage_users")
    assert auth.visible_township_ids({"role": "leader", "village_ids": None}) is None


def test_a_deep_link_to_the_other_townships_village_is_refused_and_audited(county_env):
    with _engine(county_env).connect() as c:
        b_village = c.execute(sa.select(S.village.c.id).where(
            S.village.c.code == "360121106202")).scalar_one()
    before = len(audits(county_env))
    at = page(county_env, "village", "lead_a", {"period": "2024", "village": str(b_village)})
    _ok(at)
    assert at.selectbox(key="village_pick").value != b_village
    assert [w.value for w in at.warning] == ["链接或筛选指向您权限以外的乡镇（街道）或村（社区），已忽略并记录。"]
    assert len(audits(county_env)) == before + 1
