"""The login gate through Streamlit's AppTest: nothing but the login form without a session."""
from datetime import datetime

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import auth, demo
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.ui import nav

APP = str(nav.ROOT / "app.py")
_INIT = __import__("streamlit.runtime.pages_manager", fromlist=["PagesManager"]).PagesManager.__init__
PW = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _navigation_mode_of_a_running_server(monkeypatch):
    """Run app.py on every rerun, as a server does once st.navigation has been called.

    AppTest resets PagesManager.uses_pages_directory before each run; with a pages/
    folder beside app.py that selects Streamlit's v1 mode, which reruns the current
    page file *without* app.py. A server is in that mode only for its very first run
    (see test_pages_run_directly_still_need_a_session).
    """
    from streamlit.runtime.pages_manager import PagesManager
    init = PagesManager.__init__

    def patched(self, *a, **k):
        init(self, *a, **k)
        PagesManager.uses_pages_directory = False
    monkeypatch.setattr(PagesManager, "__init__", patched)


@pytest.fixture(scope="module")
def real_township():
    """The demo township's rows without the demo flag: a 'real' database, so auth is on."""
    return demo.build()


@pytest.fixture
def real_env(engine, real_township, monkeypatch):
    with write_txn(engine) as c:
        demo.write(c, real_township, username="import")
        c.execute(sa.update(S.township).values(is_demo=False))
        east = auth.resolve_villages(c, ["红旗村"])
        auth.create_user(c, "boss", PW, "leader")
        auth.create_user(c, "wen", PW, "clerk", east, display_name="<b>文书</b>")
        auth.create_user(c, "root", PW, "admin")
        for u in ("leader", "clerk", "admin"):          # demo users, if demo.write made them
            if auth.get_user(c, u):
                auth.set_disabled(c, u, True)
    monkeypatch.setenv("DATABASE_URL", str(engine.url.render_as_string(hide_password=False)))
    monkeypatch.delenv("DASHBOARD_AUTH", raising=False)
    monkeypatch.setenv("DASHBOARD_SESSION_MINUTES", "30")
    return engine


def run_app(lang="zh") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["lang"] = lang
    return at.run()


def log_in(at: AppTest, name: str, password: str = PW) -> AppTest:
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


def only_login_form(at: AppTest, demo: bool = False) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["登录"]
    assert [w.label for w in at.text_input] == ["用户名", "密码"]
    assert at.text_input[1].proto.type == at.text_input[1].proto.PASSWORD
    assert not at.metric and not at.tabs and len(at.dataframe) == (1 if demo else 0)
    assert not at.get("download_button") and not at.get("plotly_chart")
    assert not at.selectbox and not at.multiselect


def test_without_login_only_the_login_form_renders(real_env):
    at = run_app()
    only_login_form(at)
    assert "user" not in at.session_state


@pytest.mark.parametrize("page", nav.available(), ids=lambda p: p[0])
def test_pages_run_directly_still_need_a_session(real_env, page, monkeypatch):
    """Streamlit's first run after a server start may run pages/<url>.py without app.py."""
    from streamlit.runtime.pages_manager import PagesManager
    monkeypatch.setattr(PagesManager, "__init__", _INIT)      # back to AppTest's pages-directory mode
    at = AppTest.from_file(str(nav.ROOT / page[1]), default_timeout=90)
    at.session_state["lang"] = "zh"
    at.run()
    only_login_form(at)


def test_guard_page_stops_a_script_without_session(real_env):
    def script():
        import streamlit as st

        from dashboard.ui import auth as aui
        aui.guard_page()
        st.header("secret")

    at = AppTest.from_function(script, default_timeout=90).run()
    only_login_form(at)
    assert not at.header
    at.text_input[0].input("boss")
    at.text_input[1].input(PW)
    at.button[0].click()
    at.run()
    assert [h.value for h in at.header] == ["secret"]


def test_a_forged_session_user_without_token_is_ignored(real_env):
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["user"] = {"username": "root", "role": "admin", "village_ids": None}
    at.session_state["auth_token"] = "1.99999999999.x.y.forged"
    at.run()
    only_login_form(at)


def test_wrong_password_shows_error_and_stays_on_login(real_env):
    at = log_in(run_app(), "boss", "not-the-password")
    only_login_form(at)
    assert at.error and "用户名或密码不正确" in at.error[0].value
    with real_env.connect() as c:
        rows = auth.audit_rows(c, {"action": "login"})
    assert [(r["username"], bool(r["ok"])) for r in rows] == [("boss", False)]


def test_back_off_message_through_the_form(real_env):
    """After MAX_FAILURES the source waits (15 s): even the right password is not checked."""
    at = run_app()
    for _ in range(auth.MAX_FAILURES):
        at = log_in(at, "boss", "not-the-password")
        assert "用户名或密码不正确" in at.error[0].value
    at = log_in(at, "boss")
    only_login_form(at)
    assert at.error[0].value in {f"登录失败次数过多，请在 {n} 秒后再试。" for n in (14, 15)}
    # an unknown name from the same source gets the very same answers
    at = run_app()
    for _ in range(auth.MAX_FAILURES):
        at = log_in(at, "nobody-here", "not-the-password")
        assert "用户名或密码不正确" in at.error[0].value
    at = log_in(at, "nobody-here")
    assert at.error[0].value in {f"登录失败次数过多，请在 {n} 秒后再试。" for n in (14, 15)}


def test_leader_logs_in_and_sees_dashboard_pages_but_not_upload_or_admin(real_env):
    at = log_in(run_app(), "boss")
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "总览"
    assert at.metric and at.dataframe
    assert at.session_state["user"]["role"] == "leader"
    assert "boss" in " ".join(t.value for t in at.text)
    with real_env.connect() as c:
        assert [r["ok"] for r in auth.audit_rows(c, {"action": "login"})] == [True]
    with pytest.raises(ValueError, match="Known pages"):     # not even registered for a leader
        at.switch_page(str(nav.ROOT / "pages/admin.py"))


@pytest.mark.parametrize("name", ["boss", "wen"])
def test_admin_page_refuses_non_admins_even_when_run_directly(real_env, name):
    with real_env.connect() as c:
        user = auth.get_user(c, name)
        token = auth.issue_session(c, user, 30)
    at = AppTest.from_file(str(nav.ROOT / "pages/admin.py"), default_timeout=90)
    at.session_state["user"] = user
    at.session_state["auth_token"] = token
    at.run()
    assert not at.exception
    assert any("无权" in e.value for e in at.error)
    assert not at.tabs and not at.dataframe and not at.text_input


def test_clerk_display_name_renders_as_text(real_env):
    at = log_in(run_app(), "wen")
    assert "<b>文书</b> · 村文书" in [t.value for t in at.text]


def test_admin_logs_in_and_uses_the_admin_page(real_env):
    # zh: AppTest evaluates format_func outside the script run, where the language is the default
    at = log_in(run_app(), "root")
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(str(nav.ROOT / "pages/admin.py")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "系统管理"
    assert [t.label for t in at.tabs] == ["用户", "乡镇（街道）", "操作日志", "上传记录"]
    inputs = {w.label: w for w in at.text_input}
    inputs["用户名"].input("newclerk")
    inputs["密码"].input("long-enough-pass")
    inputs["再次输入密码"].input("long-enough-pass")
    next(w for w in at.selectbox if w.label == "角色").set_value("clerk")
    villages = next(w for w in at.multiselect if w.label.startswith("负责"))
    villages.select(villages.options[0])
    next(b for b in at.button if b.label == "新增").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("新增用户" in s.value for s in at.success), [e.value for e in at.error]
    with real_env.connect() as c:
        u = auth.get_user(c, "newclerk")
        assert u["role"] == "clerk" and len(u["village_ids"]) == 1
        acts = [(r["username"], r["action"], bool(r["ok"])) for r in auth.audit_rows(c, {})]
    assert ("root", "user_add", True) in acts and ("root", "login", True) in acts
    # the audit tab lists it; the uploads tab lists the import batch of the township
    assert len(at.dataframe) >= 2


def test_logout_returns_to_login_and_is_audited(real_env):
    at = log_in(run_app(), "boss")
    at.button(key="logout").click().run()
    only_login_form(at)
    assert any("已退出" in i.value for i in at.info)
    with real_env.connect() as c:
        assert [r["action"] for r in auth.audit_rows(c, {"username": "boss"})] == ["logout", "login"]


def test_expired_or_revoked_session_falls_back_to_login(real_env):
    at = log_in(run_app(), "boss")
    assert at.title[0].value == "总览"
    auth.manage(real_env, "root", "user_disable", auth.set_disabled, "boss", True)
    at.run()
    only_login_form(at)
    assert any("过期" in i.value for i in at.info)


def test_session_expiry_is_enforced(real_env, monkeypatch):
    at = log_in(run_app(), "boss")
    token = at.session_state["auth_token"]
    assert auth.session_expiry(token) > datetime.now()
    with real_env.connect() as c:
        assert auth.session_user(c, token) is not None
        assert auth.session_user(c, token, now=auth.session_expiry(token)) is None


def test_auth_off_serves_pages_without_login(real_env, monkeypatch):
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    at = run_app()
    assert not at.exception
    assert at.title[0].value == "总览"


def test_auth_on_even_for_the_demo_when_forced(demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "on")
    at = run_app()
    only_login_form(at, demo=True)
    assert any(t.value == "演示账号" for t in at.subheader)   # demo accounts listed in demo mode


def test_demo_database_needs_no_login_by_default(demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.delenv("DASHBOARD_AUTH", raising=False)
    at = run_app()
    assert not at.exception
    assert at.title[0].value == "总览"
    assert "user" not in at.session_state or at.session_state["user"]["role"] == "leader"


def test_real_database_login_page_lists_no_demo_accounts(real_env):
    at = run_app()
    assert not any(t.value == "演示账号" for t in at.subheader)
    assert "demo-admin" not in str([m.value for m in at.markdown])


@pytest.mark.skipif(not (nav.ROOT / "pages/upload.py").exists(), reason="no upload page yet")
def test_clerk_logged_in_through_the_form_cannot_upload_another_villages_rows(real_env):
    from dashboard.queries.summary import counts
    with real_env.connect() as c:
        before = counts(c)
    at = log_in(run_app(), "wen")
    at.switch_page(str(nav.ROOT / "pages/upload.py")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "数据上传"
    body = "纠纷编号,村(社区),类别,排查日期,当事人数,状态\nX-1,建设村,邻里纠纷,2024-03-06,2,已受理\n"
    at.file_uploader(key="up_file").set_value(("crafted.csv", body.encode(), "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "up_go"]          # no import button offered
    assert at.error
    with real_env.connect() as c:
        assert counts(c) == before
        rows = auth.audit_rows(c, {"username": "wen"})
    assert [(r["action"], bool(r["ok"])) for r in reversed(rows)] == [("login", True), ("upload_check", False)]


def test_leader_gets_no_upload_page(real_env):
    at = log_in(run_app(), "boss")
    with pytest.raises(ValueError, match="Known pages"):
        at.switch_page(str(nav.ROOT / "pages/upload.py"))


def test_empty_database_says_how_to_create_the_first_admin(engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("DASHBOARD_AUTH", raising=False)
    at = run_app()
    only_login_form(at)
    assert any("users add" in w.value for w in at.warning)


def test_demo_visitor_logs_in_as_a_demo_clerk_from_the_login_page(demo_copy_url, monkeypatch):
    from dashboard.db.engine import get_engine
    from dashboard.demo_users import seed_demo_users
    with write_txn(get_engine(demo_copy_url)) as c:
        seed_demo_users(c)
    monkeypatch.setenv("DATABASE_URL", demo_copy_url)
    monkeypatch.delenv("DASHBOARD_AUTH", raising=False)
    at = run_app()
    assert at.title[0].value == "总览"                       # the demo needs no login
    at.switch_page(str(nav.ROOT / "pages/login.py")).run()
    assert [t.value for t in at.title] == ["登录"]
    assert any(t.value == "演示账号" for t in at.subheader) and len(at.dataframe) == 1
    at = log_in(at, "clerk", "demo-clerk-2024")
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "总览"
    assert at.session_state["user"]["role"] == "clerk"
    at.switch_page(str(nav.ROOT / "pages/upload.py")).run()    # now registered for the clerk
    assert not at.exception and at.title[0].value == "数据上传"
