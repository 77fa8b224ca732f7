"""Accounts core: hashing, back-off, sessions, roles and scope, user management, audit."""
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from dashboard import auth
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.errors import UserError

PW = "correct-horse-battery"


@pytest.fixture
def db(engine):
    """A migrated database with one township and two villages: 东村 (id a), 西村 (id b)."""
    with write_txn(engine) as c:
        tid = c.execute(sa.insert(S.township).values(code="360121105000", name="测试镇")
                        .returning(S.township.c.id)).scalar_one()
        for name, code in (("东村", "360121105201"), ("西村", "360121105202")):
            c.execute(sa.insert(S.village).values(township_id=tid, name=name, code=code))
    return engine


def vid(engine, name):
    with engine.connect() as c:
        return c.execute(sa.select(S.village.c.id).where(S.village.c.name == name)).scalar_one()


def add(engine, name, role, villages=(), password=PW):
    with write_txn(engine) as c:
        ids = auth.resolve_villages(c, villages)
        return auth.create_user(c, name, password, role, ids, actor="tester")


def login(engine, name, password=PW, now=None, source=""):
    with write_txn(engine) as c:
        return auth.authenticate(c, name, password, now=now, source=source)


def audit(engine, **filters):
    with engine.connect() as c:
        return auth.audit_rows(c, filters)


# ---------------------------------------------------------------- hashing

def test_password_is_hashed_with_argon2id_and_verifies(db):
    add(db, "alice", "leader")
    with db.connect() as c:
        h = c.execute(sa.select(S.app_user.c.password_hash)).scalar_one()
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and PW not in h
    assert auth.verify_password(h, PW)
    assert not auth.verify_password(h, PW + "x")
    assert not auth.verify_password("not a hash", PW)


@pytest.mark.parametrize("pw, key", [("short", "auth.password_too_short"),
                                     ("x" * (auth.MIN_PASSWORD_LENGTH - 1), "auth.password_too_short"),
                                     (" leading-space-pw", "auth.password_spaces"),
                                     ("y" * (auth.MAX_PASSWORD_LENGTH + 1), "auth.password_too_long")])
def test_weak_passwords_are_refused(db, pw, key):
    with pytest.raises(UserError) as e:
        add(db, "bob", "leader", password=pw)
    assert e.value.key == key
    with db.connect() as c:
        assert auth.get_user(c, "bob") is None


def test_minimum_length_is_enough(db):
    add(db, "bob", "leader", password="z" * auth.MIN_PASSWORD_LENGTH)
    assert login(db, "bob", "z" * auth.MIN_PASSWORD_LENGTH).ok


def test_passwords_never_reach_the_audit_log(db):
    add(db, "alice", "admin")
    login(db, "alice", "wrong-password-123")
    login(db, "alice")
    with write_txn(db) as c:
        auth.set_password(c, "alice", "another-secret-99", actor="alice")
    text = " ".join(str(r) for r in audit(db))
    assert PW not in text and "wrong-password-123" not in text and "another-secret-99" not in text


# ---------------------------------------------------------------- login and back-off

def test_a_hash_with_the_old_parameters_is_upgraded_at_the_next_good_login(db):
    from argon2 import PasswordHasher
    add(db, "alice", "leader")
    with write_txn(db) as c:
        c.execute(sa.update(S.app_user).values(password_hash=PasswordHasher().hash(PW)))
    assert login(db, "alice").ok
    with db.connect() as c:
        h = c.execute(sa.select(S.app_user.c.password_hash)).scalar_one()
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and auth.verify_password(h, PW)


def test_login_success_and_failure_are_audited(db):
    add(db, "alice", "leader")
    ok = login(db, "alice")
    assert ok.ok and ok.user["username"] == "alice" and ok.user["role"] == "leader"
    bad = login(db, "alice", "not-the-password")
    assert not bad.ok and bad.reason == "bad_credentials"
    rows = audit(db, action="login")
    assert [(r["username"], bool(r["ok"])) for r in rows] == [("alice", False), ("alice", True)]


def test_unknown_and_disabled_users_get_the_same_answer(db):
    add(db, "alice", "leader")
    add(db, "root", "admin")
    with write_txn(db) as c:
        auth.set_disabled(c, "alice", True, actor="root")
    unknown, disabled = login(db, "nobody"), login(db, "alice")
    assert not unknown.ok and not disabled.ok
    assert unknown.message_key == disabled.message_key == "auth.bad_credentials"
    details = [r["detail"] for r in audit(db, action="login", ok=False)]
    assert any("unknown_user" in d for d in details) and any("disabled" in d for d in details)


def test_repeated_failures_make_that_source_wait_then_it_may_try_again(db):
    """No hard lock any more: the source waits BACKOFF_S, doubling per further failure."""
    add(db, "alice", "clerk", ["东村"])
    t0 = datetime(2026, 1, 1, 9, 0)
    for i in range(auth.MAX_FAILURES - 1):
        r = login(db, "alice", f"wrong-pass-{i}", now=t0, source="10.0.0.9")
        assert r.reason == "bad_credentials"
    r = login(db, "alice", "wrong-pass-last", now=t0, source="10.0.0.9")
    assert r.reason == "bad_credentials"            # the 5th failure itself answers as usual
    # the right password is not even checked while that source waits 15 s
    r = login(db, "alice", now=t0 + timedelta(seconds=14), source="10.0.0.9")
    assert (r.reason, r.retry_after, r.message_key) == ("throttled", 1, "auth.throttled")
    # a 6th failure after the wait doubles it: 30 s
    assert login(db, "alice", "wrong-6", now=t0 + timedelta(seconds=15), source="10.0.0.9").reason \
        == "bad_credentials"
    assert login(db, "alice", now=t0 + timedelta(seconds=44), source="10.0.0.9").retry_after == 1
    assert login(db, "alice", now=t0 + timedelta(seconds=45), source="10.0.0.9").ok
    fails = audit(db, action="login", ok=False)
    assert len(fails) == auth.MAX_FAILURES + 3
    assert sum('"throttled"' in r["detail"] for r in fails) == 2


def test_an_attacker_cannot_lock_the_real_user_out_from_elsewhere(db):
    add(db, "root", "admin")
    t0 = datetime(2026, 1, 1, 9, 0)
    for i in range(30):
        login(db, "root", f"guess-{i}", now=t0 + timedelta(seconds=i), source="203.0.113.7")
    assert login(db, "root", now=t0 + timedelta(seconds=31), source="203.0.113.7").reason == "throttled"
    assert login(db, "root", now=t0 + timedelta(seconds=31), source="192.168.1.20").ok


def test_unknown_and_known_names_are_throttled_alike(db):
    add(db, "root", "admin")
    t0 = datetime(2026, 1, 1, 9, 0)
    answers = {}
    for name in ("root", "nobody"):
        answers[name] = [(r.reason, r.retry_after, r.message_key) for r in
                         (login(db, name, f"guess-{i}", now=t0, source=f"src-{name}")
                          for i in range(auth.MAX_FAILURES + 1))]
    assert answers["root"] == answers["nobody"] == \
        [("bad_credentials", 0, "auth.bad_credentials")] * auth.MAX_FAILURES + \
        [("throttled", auth.BACKOFF_S, "auth.throttled")]


def test_unknown_and_known_names_take_the_same_time(db):
    """Same argon2 work and the same writes: the time does not tell a real name from a made-up one."""
    import statistics
    import time
    add(db, "root", "admin")

    times = {"root": [], "nobody": []}
    # interleaved, so that a burst of other load on the machine falls on both alike
    for i in range(9):
        for name in times:
            t0 = time.perf_counter()
            assert login(db, name, f"guess-{i}", source=f"timing-{name}-{i}").reason == "bad_credentials"
            times[name].append(time.perf_counter() - t0)
    known, unknown = statistics.median(times["root"]), statistics.median(times["nobody"])
    assert 0.6 < known / unknown < 1.6, (known, unknown)


def test_one_source_spraying_many_names_waits(db):
    t0 = datetime(2026, 1, 1, 9, 0)
    for i in range(auth.SOURCE_FAILURES):
        assert login(db, f"user{i}", "guess-guess", now=t0, source="198.51.100.1").reason == "bad_credentials"
    assert login(db, "user99", "guess-guess", now=t0, source="198.51.100.1").reason == "throttled"
    assert login(db, "user99", "guess-guess", now=t0, source="198.51.100.2").reason == "bad_credentials"


def test_failures_are_forgotten_after_an_hour(db):
    add(db, "alice", "leader")
    t0 = datetime(2026, 1, 1, 9, 0)
    for i in range(auth.MAX_FAILURES - 1):
        login(db, "alice", "wrong-password", now=t0)
    later = t0 + auth.FORGET_AFTER + timedelta(seconds=1)
    for i in range(auth.MAX_FAILURES - 1):
        assert login(db, "alice", "wrong-password", now=later).reason == "bad_credentials"
    assert login(db, "alice", now=later).ok


def test_failures_below_the_limit_reset_on_success(db):
    add(db, "alice", "leader")
    for _ in range(auth.MAX_FAILURES - 1):
        login(db, "alice", "wrong-password")
    assert login(db, "alice").ok
    for _ in range(auth.MAX_FAILURES - 1):
        assert login(db, "alice", "wrong-password").reason == "bad_credentials"


def test_password_reset_clears_the_back_off(db):
    add(db, "alice", "leader")
    add(db, "root", "admin")
    for _ in range(auth.MAX_FAILURES):
        login(db, "alice", "wrong-password")
    assert login(db, "alice").reason == "throttled"
    with write_txn(db) as c:
        auth.set_password(c, "alice", "brand-new-password", actor="root")
    assert login(db, "alice", "brand-new-password").ok
    assert not login(db, "alice").ok


# ---------------------------------------------------------------- sessions

def _token(engine, name, minutes=30, now=None):
    r = login(engine, name)
    with engine.connect() as c:
        return auth.issue_session(c, r.user, minutes, now=now)


def test_session_token_identifies_the_user_until_it_expires(db):
    add(db, "alice", "clerk", ["西村"])
    t0 = datetime.now()
    token = _token(db, "alice", 30, now=t0)
    with db.connect() as c:
        u = auth.session_user(c, token, now=t0 + timedelta(minutes=29))
        assert u["username"] == "alice" and u["village_ids"] == (vid(db, "西村"),)
        assert auth.session_user(c, token, now=t0 + timedelta(minutes=30)) is None
    assert abs((auth.session_expiry(token) - (t0 + timedelta(minutes=30))).total_seconds()) < 1


@pytest.mark.parametrize("bad", [None, "", "garbage", "1.2.3.4.5", "1.9999999999.x.y.zzzz"])
def test_malformed_tokens_are_refused(db, bad):
    with db.connect() as c:
        assert auth.session_user(c, bad) is None


def test_tampered_token_is_refused(db):
    add(db, "alice", "leader")
    add(db, "root", "admin")
    token = _token(db, "alice")
    root_id = login(db, "root").user["id"]
    uid, rest = token.split(".", 1)
    with db.connect() as c:
        assert auth.session_user(c, f"{root_id}.{rest}") is None        # another user's id
        parts = token.split(".")
        parts[1] = str(int(parts[1]) + 86400)                            # a longer life
        assert auth.session_user(c, ".".join(parts)) is None


def test_disable_and_password_reset_end_sessions(db):
    add(db, "alice", "leader")
    add(db, "bob", "leader")
    add(db, "root", "admin")
    ta, tb = _token(db, "alice"), _token(db, "bob")
    with write_txn(db) as c:
        auth.set_disabled(c, "alice", True, actor="root")
        auth.set_password(c, "bob", "fresh-password-1", actor="root")
    with db.connect() as c:
        assert auth.session_user(c, ta) is None
        assert auth.session_user(c, tb) is None


def test_role_change_applies_to_a_live_session(db):
    add(db, "alice", "clerk", ["东村"])
    add(db, "root", "admin")
    token = _token(db, "alice")
    with write_txn(db) as c:
        auth.set_role(c, "alice", "clerk", [vid(db, "西村")], actor="root")
    with db.connect() as c:
        assert auth.session_user(c, token)["village_ids"] == (vid(db, "西村"),)


# ---------------------------------------------------------------- roles and scope

LEADER = {"username": "l", "role": "leader", "village_ids": None}
ADMIN = {"username": "a", "role": "admin", "village_ids": None}
CLERK = {"username": "c", "role": "clerk", "village_ids": (1,)}

# (user, action, village, allowed)
MATRIX = [
    (LEADER, "view", None, True), (LEADER, "export", None, True),
    (LEADER, "upload", None, False), (LEADER, "upload", 1, False), (LEADER, "undo", 1, False),
    (LEADER, "manage_users", None, False), (LEADER, "manage_registry", None, False),
    (LEADER, "manage_grids", None, False), (LEADER, "read_audit", None, False),
    (CLERK, "view", None, True), (CLERK, "export", None, True),
    (CLERK, "upload", None, True), (CLERK, "upload", 1, True), (CLERK, "upload", 2, False),
    (CLERK, "undo", 1, True), (CLERK, "undo", 2, False),
    (CLERK, "manage_users", None, False), (CLERK, "manage_registry", None, False),
    (CLERK, "manage_grids", None, False), (CLERK, "read_audit", None, False),
    (CLERK, "upload_history", None, False),
    (ADMIN, "view", None, True), (ADMIN, "upload", 2, True), (ADMIN, "undo", 7, True),
    (ADMIN, "manage_users", None, True), (ADMIN, "manage_registry", None, True),
    (ADMIN, "manage_grids", None, True), (ADMIN, "read_audit", None, True),
    (ADMIN, "upload_history", None, True),
    (None, "view", None, False), ({**ADMIN, "disabled": True}, "view", None, False),
    ({"username": "x", "role": "owner"}, "view", None, False),
    ({**CLERK, "village_ids": ()}, "upload", None, False),
    ({**CLERK, "village_ids": None}, "upload", 1, False),   # a clerk without scope is not "all"
]


@pytest.mark.parametrize("user, action, village, allowed", MATRIX,
                         ids=[f"{(u or {}).get('role')}-{a}-{v}-{ok}" for u, a, v, ok in MATRIX])
def test_can(user, action, village, allowed):
    assert auth.can(user, action, village) is allowed


def test_can_rejects_unknown_actions():
    with pytest.raises(ValueError):
        auth.can(ADMIN, "fly")


def test_allowed_village_ids():
    assert auth.allowed_village_ids(ADMIN) is None
    assert auth.allowed_village_ids(CLERK) == {1}
    assert auth.allowed_village_ids(LEADER) == set()
    assert auth.allowed_village_ids(None) == set()
    assert auth.allowed_village_ids({**CLERK, "village_ids": None}) == set()


def test_require_raises_forbidden():
    auth.require(ADMIN, "manage_users")
    with pytest.raises(UserError) as e:
        auth.require(CLERK, "upload", 2)
    assert e.value.key == "auth.forbidden"


@pytest.mark.parametrize("kind, action", [("villages", "manage_registry"), ("grids", "manage_grids"),
                                          ("disputes", "upload"), (None, "upload")])
def test_registry_and_grid_uploads_need_admin(kind, action):
    assert auth.action_for_kind(kind) == action
    assert auth.can(ADMIN, auth.action_for_kind(kind))
    assert auth.can(CLERK, auth.action_for_kind(kind)) is (action == "upload")


# ---------------------------------------------------------------- user management

def test_user_dicts_carry_role_and_scope(db):
    add(db, "clerk2", "clerk", ["东村", "360121105202"])
    add(db, "boss", "leader")
    with db.connect() as c:
        cl, boss = auth.get_user(c, "clerk2"), auth.get_user(c, "boss")
        listed = {u["username"]: u for u in auth.list_users(c)}
    assert cl["village_ids"] == tuple(sorted((vid(db, "东村"), vid(db, "西村"))))
    assert boss["village_ids"] is None
    assert sorted(listed["clerk2"]["villages"]) == ["东村", "西村"]


@pytest.mark.parametrize("name, role, villages, key", [
    ("c", "clerk", ["东村"], "auth.bad_username"),
    ("<b>x</b>", "clerk", ["东村"], "auth.bad_username"),
    ("has space", "leader", [], "auth.bad_username"),
    ("clerk9", "clerk", [], "auth.clerk_needs_village"),
    ("boss2", "leader", ["东村"], "auth.scope_for_clerks_only"),
    ("boss3", "owner", [], "auth.bad_role"),
])
def test_invalid_users_are_refused(db, name, role, villages, key):
    with pytest.raises(UserError) as e:
        add(db, name, role, villages)
    assert e.value.key == key


def test_unknown_village_and_duplicate_user(db):
    with pytest.raises(UserError) as e:
        add(db, "clerk1", "clerk", ["南村"])
    assert e.value.key == "auth.unknown_village" and e.value.params["name"] == "南村"
    add(db, "clerk1", "clerk", ["东村"])
    with pytest.raises(UserError) as e:
        add(db, "clerk1", "leader")
    assert e.value.key == "auth.user_exists"


def test_last_admin_cannot_be_disabled_or_demoted(db):
    add(db, "root", "admin")
    with write_txn(db) as c, pytest.raises(UserError):
        auth.set_disabled(c, "root", True)
    with write_txn(db) as c, pytest.raises(UserError):
        auth.set_role(c, "root", "leader")
    add(db, "root2", "admin")
    with write_txn(db) as c:
        auth.set_disabled(c, "root", True, actor="root2")
    with db.connect() as c:
        assert auth.get_user(c, "root")["disabled"]


def test_every_user_change_is_audited_and_refusals_too(db):
    add(db, "root", "admin")
    add(db, "alice", "clerk", ["东村"])
    auth.manage(db, "root", "user_disable", auth.set_disabled, "alice", True)
    auth.manage(db, "root", "user_enable", auth.set_disabled, "alice", False)
    auth.manage(db, "root", "user_password", auth.set_password, "alice", "new-password-22")
    auth.manage(db, "root", "user_role", auth.set_role, "alice", "leader")
    with pytest.raises(UserError):
        auth.manage(db, "root", "user_disable", auth.set_disabled, "root", True)
    with pytest.raises(UserError):
        auth.manage(db, "root", "user_add", auth.create_user, "eve", "short", "leader")
    rows = audit(db)
    got = [(r["username"], r["action"], bool(r["ok"])) for r in reversed(rows)]
    assert got == [("tester", "user_add", True), ("tester", "user_add", True),
                   ("root", "user_disable", True), ("root", "user_enable", True),
                   ("root", "user_password", True), ("root", "user_role", True),
                   ("root", "user_disable", False), ("root", "user_add", False)]
    assert "alice" in rows[-3]["detail"]


def test_audit_rows_filters(db):
    t0 = datetime(2026, 3, 1, 8)
    with write_txn(db) as c:
        auth.record(c, "alice", "login", True, None, now=t0)
        auth.record(c, "alice", "upload", False, {"file": "东村.xlsx"}, now=t0 + timedelta(days=1))
        auth.record(c, "bob", "login", False, "100%_off", now=t0 + timedelta(days=2))
    assert [r["action"] for r in audit(db, username="alice")] == ["upload", "login"]
    assert [r["username"] for r in audit(db, action="login")] == ["bob", "alice"]
    assert [r["username"] for r in audit(db, action=["login", "upload"], ok=False)] == ["bob", "alice"]
    assert len(audit(db, since=t0 + timedelta(hours=1))) == 2
    assert len(audit(db, until=(t0 + timedelta(days=1)).date())) == 1
    assert [r["username"] for r in audit(db, text="东村")] == ["alice"]
    assert [r["username"] for r in audit(db, text="%_")] == ["bob"]    # LIKE wildcards are literal
    assert len(audit(db, limit=1)) == 1
    with db.connect() as c:
        assert auth.audit_actions(c) == ["login", "upload"]


# ---------------------------------------------------------------- demo users

def test_demo_users_exist_for_each_role_and_log_in(demo_engine):
    import inspect

    from dashboard import demo
    from dashboard.demo_users import DEMO_USERS, login_hints
    if "seed_demo_users" not in inspect.getsource(demo.write):
        pytest.skip("dashboard.demo.write does not call seed_demo_users(conn) yet")
    with demo_engine.connect() as c:
        users = {u["username"]: u for u in auth.list_users(c)}
    for name, role, _display, password, villages in DEMO_USERS:
        assert users[name]["role"] == role
        assert users[name]["villages"] == list(villages)
        with demo_engine.connect() as c:
            row = c.execute(sa.select(S.app_user.c.password_hash)
                            .where(S.app_user.c.username == name)).scalar_one()
        assert auth.verify_password(row, password)
    assert {h["username"] for h in login_hints("en")} == {u[0] for u in DEMO_USERS}


def test_seed_demo_users_is_idempotent(db):
    from dashboard.demo_users import seed_demo_users
    with write_txn(db) as c:
        first = seed_demo_users(c)
        again = seed_demo_users(c)
    assert sorted(first) == ["admin", "clerk", "leader"] and again == []
    with db.connect() as c:
        assert auth.get_user(c, "clerk")["village_ids"]    # falls back to the first village


def test_upload_history_lists_batches_of_every_village(db):
    from dashboard import uploads
    with write_txn(db) as c:
        for name, v in (("a.xlsx", vid(db, "东村")), ("b.xlsx", vid(db, "西村")), ("c.xlsx", None)):
            c.execute(sa.insert(S.import_batch).values(kind="disputes", file_name=name, sha256="0" * 64,
                                                       village_id=v, username="u", created_at=datetime.now()))
        rows = uploads.history(c)
        assert {(r["file_name"], r["village"]) for r in rows} == {
            ("a.xlsx", "东村"), ("b.xlsx", "西村"), ("c.xlsx", None)}
        assert [r["file_name"] for r in uploads.history(c, village_id=vid(db, "西村"))] == ["b.xlsx"]


def test_no_dispute_party_names_are_stored_or_shown():
    """Parties are a count; only mediators (and representatives) are named."""
    cols = set(S.dispute.c.keys())
    assert isinstance(S.dispute.c.parties.type, sa.Integer)
    assert not {c for c in cols if "party" in c or "parties_" in c or c in ("plaintiff", "respondent")}
