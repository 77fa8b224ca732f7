"""Accounts, roles, sessions and the audit trail. No Streamlit here.

Roles (``schema.ROLES``):

- ``leader`` (领导): sees every page for the whole township; changes no data.
- ``clerk`` (村文书): sees the dashboard; uploads and undoes uploads of ledger data
  (disputes, volunteer activities, representative visits) for the villages in
  their scope only.
- ``admin`` (管理员): manages users, the village registry, grid boundaries and any
  upload; reads the audit log. A township administrator does this for their township:
  the users of its villages and its own leaders and admins (:func:`within`), never the
  townships themselves or the audit log (``COUNTY_ONLY``).

Scope is a place in the hierarchy county → township → village: ``user_scope`` holds one
row per village a clerk may act for (the clerk sees the township(s) of those villages);
``user_township`` one row per township a leader or admin acts for (a township leader sees
it, a township admin administers it); a leader or admin without rows has the whole county.
:func:`visible_township_ids`/:func:`visible_village_ids` say what a user may see,
:func:`allowed_village_ids` what they may change.

A *user* is a plain dict: ``{id, username, display_name, role, village_ids,
disabled, township_ids, township_codes, township_village_ids}`` where ``village_ids`` is a
sorted tuple for clerks and ``None`` for leaders and admins, and ``township_ids`` is None
for the county. The Streamlit layer keeps it in
``st.session_state["user"]`` and re-reads it from the database on every rerun.

Passwords are hashed with argon2id (argon2-cffi), never logged and never put in
an audit detail. Repeated failures slow down the *source* that makes them (per
source and typed name, and per source), never the account itself: nobody can
lock the admin out from elsewhere, and an unknown name is throttled exactly like
a real one. Sessions are signed tokens that expire, die when the password changes
or the account is disabled, and at logout (every tab holding the token). In a
browser the token lives only in an HttpOnly cookie (dashboard.web), which the
login form's tab obtains by trading a one-time ticket bound to its browser.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dashboard.db import schema as S
from dashboard.errors import UserError

ROLES = S.ROLES
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
# Back-off: after FREE failures (within FORGET_AFTER of each other) a key waits
# BACKOFF_S · 2^(n - FREE) seconds, at most BACKOFF_MAX_S, before its next try is checked.
MAX_FAILURES = 5          # failures from one source for one name before it must wait
SOURCE_FAILURES = 20      # failures from one source (any names) before it must wait
BACKOFF_S = 15
BACKOFF_MAX_S = 900
FORGET_AFTER = timedelta(hours=1)
TICKET_SECONDS = 60       # the login form's tab has this long to trade its ticket for the cookie
USERNAME_RE = re.compile(r"^[\w.@-]{2,64}$")

# What each role may do. Scoped actions (upload, undo) also need the village in scope.
ACTIONS = ("view", "export", "upload", "undo", "manage_users", "manage_registry",
           "manage_grids", "read_audit", "upload_history", "manage_townships")
SCOPED = ("upload", "undo")
# Actions only a county-scoped admin has: the audit log and the list of townships span the
# county. A township admin's manage_users reaches only their township's users (check_target).
COUNTY_ONLY = ("read_audit", "manage_townships")
_ROLE_ACTIONS = {
    "leader": {"view", "export"},
    "clerk": {"view", "export", "upload", "undo"},
    "admin": set(ACTIONS),
}
# Upload kinds that change the registry or grid boundaries need more than "upload".
KIND_ACTION = {"villages": "manage_registry", "grids": "manage_grids"}

# OWASP's argon2id setting (19 MiB, 2 passes, 1 lane): a fifth of argon2-cffi's default work
# (64 MiB, 3 passes, 4 lanes), which made 25 simultaneous logins on 2 cores queue for tens of
# seconds. Hashes made with other parameters are rehashed at their next good login.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_DUMMY_HASH = _HASHER.hash("not-a-real-password-" + secrets.token_hex(8))
# Session tokens are signed with a key that lives as long as the server process:
# a restart logs everyone out, which is what an intranet deployment expects.
_SESSION_KEY = secrets.token_bytes(32)


# ---------------------------------------------------------------- roles and scope

def auth_mode_on(mode: str, is_demo: bool) -> bool:
    """DASHBOARD_AUTH on/off; auto (and anything unrecognised) = on unless the database is the demo."""
    mode = str(mode).strip().lower()
    if mode in {"off", "0", "false", "no"}:
        return False
    if mode == "auto":
        return not is_demo
    return True


def allowed_village_ids(user: dict | None) -> set[int] | None:
    """Villages whose data the user may *change*: None = every village (admin).

    A clerk gets exactly their scope (possibly empty); a leader or an unknown
    user gets the empty set. Everyone logged in may *view* the whole township.
    Pass the result as ``allowed_village_ids`` to ``loaders.import_file``/``undo_batch``.
    """
    if not user or user.get("disabled"):
        return set()
    role = user.get("role")
    if role == "admin":
        vis = visible_village_ids(user)
        return None if vis is None else vis
    if role == "clerk":
        return {int(v) for v in (user.get("village_ids") or ())}
    return set()


def checks_scope(user: dict | None) -> set[int] | None:
    """The places whose own checks (data-quality flags) a user is shown: None = every village
    of the county (a county leader or admin), a township's staff their township's villages, a
    clerk's own villages, nothing for a disabled or unknown user."""
    if not user or user.get("disabled") or user.get("role") not in _ROLE_ACTIONS:
        return set()
    if user["role"] == "clerk":
        return {int(v) for v in (user.get("village_ids") or ())}
    return visible_village_ids(user)


def visible_township_ids(user: dict | None) -> set[int] | None:
    """Townships whose data the user may *see*: None = the whole county (a user without a
    township scope: county leader or admin, or the anonymous viewer without authentication).
    A township leader/admin sees their township(s); a clerk the township(s) of their villages."""
    if not user:
        return set()
    ids = user.get("township_ids")
    return None if ids is None else {int(t) for t in ids}


def visible_village_ids(user: dict | None) -> set[int] | None:
    """Villages whose data the user may *see*: None = every village of the county."""
    if visible_township_ids(user) is None:
        return None
    return {int(v) for v in (user.get("township_village_ids") or ())}


def fixed_township(user: dict | None) -> str | None:
    """The code of the one township a user's uploads belong to (a township's own staff), or
    None when the user may choose (county scope, or several townships)."""
    codes = (user or {}).get("township_codes")
    return str(codes[0]) if codes and len(codes) == 1 else None


def can(user: dict | None, action: str, village_id: int | None = None) -> bool:
    """May ``user`` do ``action`` (for ``village_id`` when given)?

    For scoped actions without a village, the answer is whether the user may do
    it for at least one village (e.g. whether to show the upload page).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not user or user.get("disabled") or user.get("role") not in _ROLE_ACTIONS:
        return False
    if action not in _ROLE_ACTIONS[user["role"]]:
        return False
    if action in COUNTY_ONLY and visible_township_ids(user) is not None:
        return False          # a township administrator: their township's data, not accounts
    if action in SCOPED:
        allowed = allowed_village_ids(user)
        if allowed is None:
            return True
        return bool(allowed) if village_id is None else int(village_id) in allowed
    return True


def action_for_kind(kind: str | None) -> str:
    """The action an upload of ``kind`` needs: registry and grids are admin work."""
    return KIND_ACTION.get(kind or "", "upload")


def require(user: dict | None, action: str, village_id: int | None = None) -> None:
    """Raise UserError("auth.forbidden") unless :func:`can` allows it."""
    if not can(user, action, village_id):
        raise UserError("auth.forbidden")


# ---------------------------------------------------------------- passwords

def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError("auth.password_too_short", n=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError("auth.password_too_long", n=MAX_PASSWORD_LENGTH)
    if password.strip() != password or not password.strip():
        raise UserError("auth.password_spaces")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- audit

def record(conn, username: str | None, action: str, ok: bool = True, detail=None,
           now: datetime | None = None) -> None:
    """Append one audit row (in the caller's transaction). ``detail``: text or a JSON-able dict."""
    if isinstance(detail, (dict, list)):
        detail = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    conn.execute(sa.insert(S.audit_log).values(
        at=now or datetime.now(), username=(username or "anonymous")[:64], action=action[:40],
        ok=bool(ok), detail=None if detail is None else str(detail)))


def audit_rows(conn, filters: dict | None = None) -> list[dict]:
    """Audit rows, newest first. Filters: username, action, ok (bool), since, until
    (datetimes or dates; until is exclusive), text (substring of detail), limit (default 500)."""
    f = dict(filters or {})
    a = S.audit_log
    q = sa.select(a.c.id, a.c.at, a.c.username, a.c.action, a.c.ok, a.c.detail)
    if f.get("username"):
        q = q.where(a.c.username == f["username"])
    if f.get("action"):
        acts = f["action"] if isinstance(f["action"], (list, tuple, set)) else [f["action"]]
        q = q.where(a.c.action.in_(list(acts)))
    if f.get("ok") is not None:
        q = q.where(a.c.ok == bool(f["ok"]))
    if f.get("since"):
        q = q.where(a.c.at >= _as_dt(f["since"]))
    if f.get("until"):
        q = q.where(a.c.at < _as_dt(f["until"]))
    if f.get("text"):
        q = q.where(a.c.detail.contains(str(f["text"]), autoescape=True))
    q = q.order_by(a.c.at.desc(), a.c.id.desc()).limit(int(f.get("limit") or 500))
    return [dict(r) for r in conn.execute(q).mappings()]


def audit_actions(conn) -> list[str]:
    return list(conn.execute(sa.select(S.audit_log.c.action).distinct()
                             .order_by(S.audit_log.c.action)).scalars())


def _as_dt(v) -> datetime:
    return v if isinstance(v, datetime) else datetime(v.year, v.month, v.day)


# ---------------------------------------------------------------- users

def _user_dict(conn, row) -> dict:
    ids = None
    if row["role"] == "clerk":
        ids = tuple(sorted(conn.execute(sa.select(S.user_scope.c.village_id)
                                        .where(S.user_scope.c.user_id == row["id"])).scalars()))
        tids = sorted(set(conn.execute(sa.select(S.village.c.township_id)
                                       .where(S.village.c.id.in_(ids))).scalars())) if ids else []
    else:
        tids = sorted(conn.execute(sa.select(S.user_township.c.township_id)
                                   .where(S.user_township.c.user_id == row["id"])).scalars())
    out = {"id": row["id"], "username": row["username"], "display_name": row["display_name"] or "",
           "role": row["role"], "village_ids": ids, "disabled": bool(row["disabled"])}
    return {**out, **place_scope(conn, tids if (tids or row["role"] == "clerk") else None)}


def place_scope(conn, township_ids) -> dict:
    """The place part of a user dict: ``township_ids`` (None: the county), the townships' codes
    and every village in them (what a township leader sees, a township admin administers)."""
    if township_ids is None:
        return {"township_ids": None, "township_codes": None, "township_village_ids": None}
    tids = sorted({int(t) for t in township_ids})
    codes = tuple(conn.execute(sa.select(S.township.c.code).where(S.township.c.id.in_(tids))
                               .order_by(S.township.c.id)).scalars()) if tids else ()
    vids = tuple(sorted(conn.execute(sa.select(S.village.c.id)
                                     .where(S.village.c.township_id.in_(tids))).scalars())) if tids else ()
    return {"township_ids": tuple(tids), "township_codes": codes, "township_village_ids": vids}


def _row(conn, username: str):
    return conn.execute(sa.select(S.app_user).where(S.app_user.c.username == username)).mappings().first()


def get_user(conn, username: str) -> dict | None:
    r = _row(conn, username)
    return _user_dict(conn, r) if r else None


def get_user_by_id(conn, user_id: int) -> dict | None:
    r = conn.execute(sa.select(S.app_user).where(S.app_user.c.id == user_id)).mappings().first()
    return _user_dict(conn, r) if r else None


def user_count(conn) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(S.app_user)).scalar_one())


def list_users(conn, actor=None) -> list[dict]:
    """Every user ``actor`` may manage (None, the shell: all; a township administrator: their
    township's) with role, state and the names of the villages and townships in scope."""
    scope = _actor_scope(actor)
    names = dict(conn.execute(sa.select(S.village.c.id, S.village.c.name)).all())
    towns = dict(conn.execute(sa.select(S.township.c.id, S.township.c.name)).all())
    out = []
    for r in conn.execute(sa.select(S.app_user).order_by(S.app_user.c.username)).mappings():
        u = _user_dict(conn, r)
        if not within(scope, u["township_ids"] or ()):
            continue
        u["villages"] = [names.get(v, str(v)) for v in (u["village_ids"] or ())]
        u["townships"] = None if u["township_ids"] is None else [towns.get(x, str(x)) for x in u["township_ids"]]
        u["locked_until"] = r["locked_until"]
        u["failed_logins"] = r["failed_logins"]
        u["created_at"] = r["created_at"]
        out.append(u)
    return out


def resolve_villages(conn, names_or_codes, township_ids=None) -> list[int]:
    """Village ids for names or 12-digit codes (names looked up within ``township_ids`` when
    given); UserError naming the first unknown one, or one a name leaves ambiguous (建设村 in
    two townships: give the code or the township)."""
    ids = []
    for n in names_or_codes or ():
        n = str(n).strip()
        q = sa.select(S.village.c.id).where(sa.or_(S.village.c.name == n, S.village.c.code == n))
        if township_ids is not None:
            q = q.where(S.village.c.township_id.in_([int(t) for t in township_ids]))
        found = list(conn.execute(q.limit(2)).scalars())
        if not found:
            raise UserError("auth.unknown_village", name=n)
        if len(found) > 1:
            raise UserError("auth.ambiguous_village", name=n)
        ids.append(int(found[0]))
    return sorted(set(ids))


def _check_role_scope(role: str, village_ids, township_ids=()) -> list[int]:
    if role not in ROLES:
        raise UserError("auth.bad_role", role=role)
    ids = sorted({int(v) for v in (village_ids or ())})
    if role == "clerk" and not ids:
        raise UserError("auth.clerk_needs_village")
    if role != "clerk" and ids:
        raise UserError("auth.scope_for_clerks_only")
    if role == "clerk" and township_ids:
        raise UserError("auth.township_not_for_clerks")
    return ids


def resolve_townships(conn, names_or_codes) -> list[int]:
    """Township ids for names or codes; UserError naming the first unknown one."""
    ids = []
    for n in names_or_codes or ():
        n = str(n).strip()
        tid = conn.execute(sa.select(S.township.c.id).where(
            sa.or_(S.township.c.name == n, S.township.c.code == n))).scalar()
        if tid is None:
            raise UserError("auth.unknown_township", name=n)
        ids.append(int(tid))
    return sorted(set(ids))


def _set_townships(conn, user_id: int, township_ids) -> list[int]:
    t = S.user_township
    conn.execute(sa.delete(t).where(t.c.user_id == user_id))
    ids = sorted({int(x) for x in (township_ids or ())})
    if ids:
        known = set(conn.execute(sa.select(S.township.c.id).where(S.township.c.id.in_(ids))).scalars())
        missing = [i for i in ids if i not in known]
        if missing:
            raise UserError("auth.unknown_township", name=str(missing[0]))
        conn.execute(sa.insert(t), [{"user_id": user_id, "township_id": x} for x in ids])
    return ids


def actor_name(actor) -> str:
    """The name an action is audited under: a user dict's username, or the shell's string."""
    return actor["username"] if isinstance(actor, dict) else str(actor or "system")


def _actor_scope(actor) -> set[int] | None:
    """The townships an acting user administers (None: the county). A string actor is the
    shell (the command line, the demo seed, the benchmark): the county."""
    return visible_township_ids(actor) if isinstance(actor, dict) else None


def within(scope: set[int] | None, township_ids) -> bool:
    """Is a user whose place is ``township_ids`` (empty: the county) inside ``scope``?"""
    return scope is None or (bool(township_ids) and set(township_ids) <= scope)


def user_township_ids(conn, user_id: int, role: str) -> set[int]:
    """A user's place: a clerk's villages' townships, a leader's or admin's own townships
    (empty: the county)."""
    if role == "clerk":
        q = sa.select(S.village.c.township_id).join(
            S.user_scope, S.user_scope.c.village_id == S.village.c.id).where(
            S.user_scope.c.user_id == user_id)
    else:
        q = sa.select(S.user_township.c.township_id).where(S.user_township.c.user_id == user_id)
    return set(conn.execute(q).scalars())


def check_target(conn, actor, row) -> None:
    """May ``actor`` change the account ``row``? A user dict must be allowed manage_users, and
    a township administrator reaches only users inside their township(s):
    UserError("auth.outside_township") otherwise. The shell may change any account."""
    if not isinstance(actor, dict):
        return
    if not can(actor, "manage_users"):
        raise UserError("auth.forbidden")
    if not within(_actor_scope(actor), user_township_ids(conn, row["id"], row["role"])):
        raise UserError("auth.outside_township", name=row["username"])


def check_within(conn, actor, role: str, village_ids=(), township_ids=()) -> None:
    """A township administrator gives only scopes inside their township(s), never the county:
    UserError("auth.scope_outside") otherwise. County administrators (and the shell) give any."""
    if isinstance(actor, dict) and not can(actor, "manage_users"):
        raise UserError("auth.forbidden")
    vis = _actor_scope(actor)
    if vis is None:
        return
    tids = {int(x) for x in (township_ids or ())}
    if village_ids:
        tids |= set(conn.execute(sa.select(S.village.c.township_id)
                                 .where(S.village.c.id.in_([int(v) for v in village_ids]))).scalars())
    if (role != "clerk" and not township_ids) or not within(vis, tids):
        raise UserError("auth.scope_outside")


def _set_scope(conn, user_id: int, ids: list[int]) -> None:
    conn.execute(sa.delete(S.user_scope).where(S.user_scope.c.user_id == user_id))
    if ids:
        known = set(conn.execute(sa.select(S.village.c.id).where(S.village.c.id.in_(ids))).scalars())
        missing = [i for i in ids if i not in known]
        if missing:
            raise UserError("auth.unknown_village", name=str(missing[0]))
        conn.execute(sa.insert(S.user_scope), [{"user_id": user_id, "village_id": v} for v in ids])


def create_user(conn, username: str, password: str, role: str, village_ids=(),
                display_name: str | None = None, actor: str | dict = "system",
                township_ids=()) -> dict:
    """Add an account (in the caller's write transaction) and audit it. ``township_ids``: a
    township leader's or admin's township(s); without them a leader or admin has the county.
    ``actor``: the acting user (a township administrator adds only inside their township) or
    the shell's name."""
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise UserError("auth.bad_username")
    ids = _check_role_scope(role, village_ids, township_ids)
    check_within(conn, actor, role, ids, township_ids)
    if _row(conn, username) is not None:
        raise UserError("auth.user_exists", name=username)
    pw_hash = hash_password(password)
    uid = conn.execute(sa.insert(S.app_user).values(
        username=username, display_name=(display_name or "").strip()[:100] or None,
        password_hash=pw_hash, role=role, disabled=False, failed_logins=0,
        created_at=datetime.now()).returning(S.app_user.c.id)).scalar_one()
    _set_scope(conn, uid, ids)
    tids = _set_townships(conn, uid, township_ids)
    record(conn, actor_name(actor), "user_add", True, {"user": username, "role": role, "village_ids": ids,
                                           **({"township_ids": tids} if tids else {})})
    return get_user_by_id(conn, uid)


def _require_row(conn, username: str):
    r = _row(conn, username)
    if r is None:
        raise UserError("auth.no_such_user", name=username)
    return r


def _enabled_admins(conn) -> int:
    u = S.app_user
    return int(conn.execute(sa.select(sa.func.count()).select_from(u).where(
        u.c.role == "admin", u.c.disabled == sa.false())).scalar_one())


def set_disabled(conn, username: str, disabled: bool = True, actor: str | dict = "system") -> dict:
    """Disable (or enable) an account; its sessions end at the next page load."""
    r = _require_row(conn, username)
    check_target(conn, actor, r)
    if disabled and r["role"] == "admin" and not r["disabled"] and _enabled_admins(conn) <= 1:
        raise UserError("auth.last_admin")
    conn.execute(sa.update(S.app_user).where(S.app_user.c.id == r["id"]).values(
        disabled=bool(disabled), failed_logins=0, locked_until=None))
    record(conn, actor_name(actor), "user_disable" if disabled else "user_enable", True,
           {"user": username})
    return get_user_by_id(conn, r["id"])


def set_password(conn, username: str, password: str, actor: str | dict = "system") -> None:
    """Reset a password (clears the back-off of that name); the user's existing sessions end."""
    r = _require_row(conn, username)
    check_target(conn, actor, r)
    pw_hash = hash_password(password)
    conn.execute(sa.update(S.app_user).where(S.app_user.c.id == r["id"]).values(
        password_hash=pw_hash, failed_logins=0, locked_until=None))
    t = S.auth_throttle   # a new password is tried afresh from every source
    conn.execute(sa.delete(t).where(t.c.key.startswith("pair:"),
                                    t.c.key.endswith(f"|{r['username'].lower()}", autoescape=True)))
    record(conn, actor_name(actor), "user_password", True, {"user": username})


def set_role(conn, username: str, role: str, village_ids=(), actor: str | dict = "system",
             township_ids=()) -> dict:
    """Change a user's role and place scope (villages for a clerk, townships or the county
    for a leader or admin). A township administrator changes only their township's users,
    and only to scopes inside it."""
    r = _require_row(conn, username)
    check_target(conn, actor, r)
    ids = _check_role_scope(role, village_ids, township_ids)
    check_within(conn, actor, role, ids, township_ids)
    if r["role"] == "admin" and role != "admin" and not r["disabled"] and _enabled_admins(conn) <= 1:
        raise UserError("auth.last_admin")
    conn.execute(sa.update(S.app_user).where(S.app_user.c.id == r["id"]).values(role=role))
    _set_scope(conn, r["id"], ids)
    tids = _set_townships(conn, r["id"], township_ids)
    record(conn, actor_name(actor), "user_role", True, {"user": username, "role": role, "village_ids": ids,
                                            **({"township_ids": tids} if tids else {})})
    return get_user_by_id(conn, r["id"])


def manage(engine, actor: str | dict, action: str, fn, *args, **kwargs):
    """Run a user- or township-management function ``fn(conn, *args, actor=actor, **kwargs)``
    in a write transaction. ``actor``: the acting user dict (its scope is enforced by ``fn``)
    or the shell's name. Success is audited by ``fn``; a refusal (UserError) is audited here,
    in its own transaction, and re-raised."""
    from dashboard.db.engine import bump_version, run_write

    def body(conn):
        out = fn(conn, *args, actor=actor, **kwargs)
        bump_version(conn)
        return out
    try:
        return run_write(engine, body)
    except UserError as exc:
        target = args[0] if args and isinstance(args[0], (str, int)) else None
        what = "township" if action.startswith("township_") else "user"
        run_write(engine, lambda c: record(c, actor_name(actor), action, False,
                                           {what: target, "reason": exc.key}))
        raise


# ---------------------------------------------------------------- login

@dataclass(frozen=True)
class LoginResult:
    ok: bool
    user: dict | None = None
    reason: str = ""                  # "", "bad_credentials", "throttled"
    retry_after: int = 0              # seconds, when throttled

    @property
    def message_key(self) -> str:
        return {"throttled": "auth.throttled"}.get(self.reason, "auth.bad_credentials")


def _throttle_keys(source: str, username: str) -> tuple[str, str]:
    src = (source or "unknown")[:64]
    return f"pair:{src}|{username.lower()}"[:200], f"src:{src}"


def _backoff(failures: int, free: int) -> int:
    return 0 if failures < free else min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (failures - free))


def _throttle_wait(conn, keys, now: datetime) -> int:
    t = S.auth_throttle
    until = conn.execute(sa.select(sa.func.max(t.c.blocked_until)).where(
        t.c.key.in_(keys), t.c.blocked_until > now)).scalar()
    return 0 if until is None else max(1, int((until - now).total_seconds() + 0.999))


def _count_failure(conn, key: str, free: int, now: datetime) -> None:
    t = S.auth_throttle
    r = conn.execute(sa.select(t.c.failures, t.c.last_failure_at).where(t.c.key == key)).first()
    n = 1 if r is None or r.last_failure_at < now - FORGET_AFTER else int(r.failures) + 1
    wait = _backoff(n, free)
    values = {"failures": n, "last_failure_at": now,
              "blocked_until": now + timedelta(seconds=wait) if wait else None}
    if r is None:
        conn.execute(sa.insert(t).values(key=key, **values))
    else:
        conn.execute(sa.update(t).where(t.c.key == key).values(**values))


def authenticate(conn, username: str, password: str, now: datetime | None = None,
                 source: str = "") -> LoginResult:
    """Check a login from ``source`` (the client's address; in the caller's *write*
    transaction: it counts failures and audits).

    Unknown users, wrong passwords and disabled accounts give the same answer, after
    the same argon2 work and the same writes; the audit log says which it was. After
    MAX_FAILURES failures for one name from one source (or SOURCE_FAILURES from one
    source for any names) that source waits, doubling per failure, before a password
    is checked at all; other sources are not affected, so the real owner still logs in.
    """
    now = now or datetime.now()
    username = (username or "").strip()[:64]
    pair, src = _throttle_keys(source, username)
    detail = {"source": (source or "unknown")[:64]}
    wait = _throttle_wait(conn, (pair, src), now)
    if wait:
        record(conn, username or "anonymous", "login", False,
               {**detail, "reason": "throttled", "retry_after": wait}, now)
        return LoginResult(False, reason="throttled", retry_after=wait)
    r = _row(conn, username) if username else None
    good = verify_password(r["password_hash"] if r is not None else _DUMMY_HASH, password or "")
    reason = ("unknown_user" if r is None else "bad_password" if not good
              else "disabled" if r["disabled"] else "")
    if reason:
        _count_failure(conn, pair, MAX_FAILURES, now)
        _count_failure(conn, src, SOURCE_FAILURES, now)
        record(conn, username or "anonymous", "login", False, {**detail, "reason": reason}, now)
        return LoginResult(False, reason="bad_credentials")
    u = S.app_user
    conn.execute(sa.delete(S.auth_throttle).where(S.auth_throttle.c.key == pair))
    values = {"failed_logins": 0, "locked_until": None}
    if _HASHER.check_needs_rehash(r["password_hash"]):
        values["password_hash"] = _HASHER.hash(password)
    conn.execute(sa.update(u).where(u.c.id == r["id"]).values(**values))
    record(conn, username, "login", True, detail, now)
    return LoginResult(True, user=get_user_by_id(conn, r["id"]))


# ---------------------------------------------------------------- sessions

def _stamp(password_hash: str) -> str:
    # Changes whenever the password does, so a reset ends every existing session.
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _sign(payload: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(_SESSION_KEY, payload.encode(), hashlib.sha256)
                                    .digest()).decode().rstrip("=")


def issue_session(conn, user: dict, minutes: int, now: datetime | None = None) -> str:
    """A signed token for ``user`` that expires ``minutes`` from now."""
    now = now or datetime.now()
    pw_hash = conn.execute(sa.select(S.app_user.c.password_hash)
                           .where(S.app_user.c.id == user["id"])).scalar_one()
    expires = int((now + timedelta(minutes=minutes)).timestamp())
    payload = f"{user['id']}.{expires}.{_stamp(pw_hash)}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_sign(payload)}"


def session_expiry(token: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(token.split(".")[1]))
    except (AttributeError, IndexError, ValueError):
        return None


# Logged-out tokens until they would have expired, and the login form's pending tickets.
# Process memory is enough: the signing key is per process too, and behind the proxy
# every request of one browser reaches the same process (deploy/nginx/dashboard.conf).
_LOCK = threading.Lock()
_REVOKED: dict[str, int] = {}               # nonce -> expiry (epoch seconds)
_TICKETS: dict[str, tuple[str, str, float]] = {}   # sha256(ticket) -> (token, binding, expiry)


def _parse(token) -> tuple[int, int, str, str] | None:
    if not token or not isinstance(token, str) or len(token) > 512:
        return None
    payload, _, sig = token.rpartition(".")
    if not payload or not hmac.compare_digest(sig, _sign(payload)):
        return None
    try:
        uid_s, exp_s, stamp, nonce = payload.split(".", 3)
        return int(uid_s), int(exp_s), stamp, nonce
    except ValueError:
        return None


def revoke_session(token: str | None) -> bool:
    """Log a token out everywhere it is held (every tab of that browser login)."""
    parsed = _parse(token)
    if parsed is None:
        return False
    now = time.time()
    with _LOCK:
        for k in [k for k, exp in _REVOKED.items() if exp <= now]:
            del _REVOKED[k]
        _REVOKED[parsed[3]] = parsed[1]
    return True


def login_id(token: str | None) -> str | None:
    """An opaque name of one login (not the token): what a WebSocket session is bound to."""
    if not token:
        return None
    return hashlib.sha256(b"login:" + str(token).encode()).hexdigest()[:32]


def issue_ticket(token: str, binding: str) -> str:
    """A one-time code, valid TICKET_SECONDS, that :func:`claim_ticket` trades for ``token``
    when presented with the same ``binding`` (something only the login form's browser has)."""
    ticket = secrets.token_urlsafe(24)
    now = time.time()
    with _LOCK:
        for k in [k for k, v in _TICKETS.items() if v[2] <= now]:
            del _TICKETS[k]
        _TICKETS[hashlib.sha256(ticket.encode()).hexdigest()] = (token, binding, now + TICKET_SECONDS)
    return ticket


def claim_ticket(ticket: str | None, binding: str) -> str | None:
    """The token behind ``ticket`` (once), or None: unknown, used, expired or another browser."""
    if not ticket or len(ticket) > 100:
        return None
    with _LOCK:
        entry = _TICKETS.pop(hashlib.sha256(ticket.encode()).hexdigest(), None)
    if entry is None or entry[2] <= time.time() or not binding \
            or not hmac.compare_digest(entry[1], binding):
        return None
    return entry[0]


def token_claims(token: str | None, now: datetime | None = None) -> tuple[int, str] | None:
    """(user id, password stamp) of a token that is genuine, unexpired and not logged out: the
    checks that need no database."""
    parsed = _parse(token)
    if parsed is None:
        return None
    uid, exp, stamp, nonce = parsed
    if (now or datetime.now()).timestamp() >= exp:
        return None
    with _LOCK:
        if nonce in _REVOKED:
            return None
    return uid, stamp


def account_for(conn, uid: int, stamp: str) -> dict | None:
    """The user dict of account ``uid`` if it is enabled and its password is still the one
    ``stamp`` was made from. Every change to an account bumps the data version (``manage``),
    so a page may cache this per version (dashboard.ui.auth does: one query less per rerun)."""
    r = conn.execute(sa.select(S.app_user).where(S.app_user.c.id == uid)).mappings().first()
    if r is None or r["disabled"] or not hmac.compare_digest(stamp, _stamp(r["password_hash"])):
        return None
    return _user_dict(conn, r)


def session_user(conn, token: str | None, now: datetime | None = None) -> dict | None:
    """The user a token belongs to, or None when it is forged, expired, logged out, or
    the account was disabled or its password changed since it was issued."""
    claims = token_claims(token, now)
    return None if claims is None else account_for(conn, *claims)
