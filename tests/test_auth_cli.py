"""``python -m dashboard users``: first admin, list, disable/enable, reset-password; passwords never in argv."""
import io
import subprocess
import sys

import pytest

from dashboard import auth
from dashboard.__main__ import main
from dashboard.db.engine import write_txn

PW = "correct-horse-battery"


def cli(db_url, *args, stdin="", monkeypatch=None):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["users", "--db", db_url, *args])


@pytest.fixture
def town(engine, db_url):
    import sqlalchemy as sa
    from dashboard.db import schema as S
    with write_txn(engine) as c:
        tid = c.execute(sa.insert(S.township).values(code="360121105000", name="测试镇")
                        .returning(S.township.c.id)).scalar_one()
        c.execute(sa.insert(S.village).values(township_id=tid, name="红旗村", code="360121105201"))
        c.execute(sa.insert(S.village).values(township_id=tid, name="建设村", code="360121105202"))
    return engine


def test_first_admin_from_stdin_then_list(town, db_url, monkeypatch, capsys):
    assert cli(db_url, "list", monkeypatch=monkeypatch) == 0
    assert "add the first admin" in capsys.readouterr().out
    assert cli(db_url, "add", "root", "--role", "admin", "--password-stdin",
               stdin=PW + "\n", monkeypatch=monkeypatch) == 0
    assert cli(db_url, "add", "wen", "--role", "clerk", "--village", "红旗村", "--village", "360121105202",
               "--password-stdin", stdin=PW + "\n", monkeypatch=monkeypatch) == 0
    capsys.readouterr()
    assert cli(db_url, "list", monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "root" in out and "admin" in out and "红旗村" in out and "建设村" in out
    assert PW not in out
    with town.connect() as c:
        assert auth.get_user(c, "root")["role"] == "admin"
        rows = auth.audit_rows(c, {"action": "user_add"})
    assert {r["username"].split(":")[0] for r in rows} == {"cli"}


def test_password_prompt_is_asked_twice(town, db_url, monkeypatch):
    answers = iter([PW, PW])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "--db", db_url, "add", "boss", "--role", "leader"]) == 0
    answers = iter([PW, PW + "x"])
    with pytest.raises(SystemExit):
        main(["users", "--db", db_url, "add", "boss2", "--role", "leader"])
    with town.connect() as c:
        assert auth.get_user(c, "boss2") is None


@pytest.mark.parametrize("args, stdin, message", [
    (["add", "root", "--role", "admin", "--password-stdin"], "short\n", "至少需要"),
    (["add", "wen", "--role", "clerk", "--password-stdin"], PW + "\n", "至少要指定一个村"),
    (["add", "wen", "--role", "clerk", "--village", "南村", "--password-stdin"], PW + "\n", "南村"),
    (["disable", "ghost"], "", "没有用户"),
])
def test_refusals_exit_1_with_a_message(town, db_url, monkeypatch, capsys, args, stdin, message):
    monkeypatch.setenv("DASHBOARD_LANG", "zh")
    assert cli(db_url, *args, stdin=stdin, monkeypatch=monkeypatch) == 1
    assert message in capsys.readouterr().out


def test_disable_enable_and_reset_password(town, db_url, monkeypatch, capsys):
    cli(db_url, "add", "root", "--role", "admin", "--password-stdin", stdin=PW + "\n", monkeypatch=monkeypatch)
    cli(db_url, "add", "boss", "--role", "leader", "--password-stdin", stdin=PW + "\n", monkeypatch=monkeypatch)
    assert cli(db_url, "disable", "root", monkeypatch=monkeypatch) == 1       # the last admin
    assert cli(db_url, "disable", "boss", monkeypatch=monkeypatch) == 0
    with write_txn(town) as c:
        assert not auth.authenticate(c, "boss", PW).ok
    assert cli(db_url, "enable", "boss", monkeypatch=monkeypatch) == 0
    assert cli(db_url, "reset-password", "boss", "--password-stdin", stdin="another-password-7\n",
               monkeypatch=monkeypatch) == 0
    with write_txn(town) as c:
        assert auth.authenticate(c, "boss", "another-password-7").ok
        assert not auth.authenticate(c, "boss", PW).ok
    with town.connect() as c:
        acts = [r["action"] for r in auth.audit_rows(c, {}) if r["action"].startswith("user_")]
    assert acts.count("user_disable") == 2 and "user_enable" in acts and "user_password" in acts


def test_no_password_option_on_the_command_line():
    out = subprocess.run([sys.executable, "-m", "dashboard", "users", "add", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--password-stdin" in out
    assert "--password " not in out and "--password=" not in out
