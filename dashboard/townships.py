"""Townships (乡镇/街道) as records: the one insert (the admin page's 新增 and a villages
registry that names an unknown township both go through :func:`insert`), renaming, and the
listing of the 系统管理 page. No Streamlit here.

Adding and renaming are county work: a township administrator sees their township's row but
changes neither (:func:`dashboard.auth.can` ``manage_townships``). The shell's actor (a string)
is the county.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from dashboard import auth
from dashboard.db import schema as S
from dashboard.errors import UserError

CODE_RE = re.compile(r"^\d{12}$")      # 统计用区划代码 of a township: 9 digits of place + 000
NAME_MAX = 100
ADD, RENAME = "township_add", "township_rename"


def _clean_name(conn, name, township_id: int | None = None) -> str:
    name = str(name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise UserError("township.bad_name", n=NAME_MAX)
    q = sa.select(S.township.c.id).where(S.township.c.name == name)
    if township_id is not None:
        q = q.where(S.township.c.id != int(township_id))
    if conn.execute(q).first() is not None:
        raise UserError("township.name_taken", name=name)
    return name


def insert(conn, name, code) -> int:
    """Add a township (in the caller's transaction) and return its id; UserError for a name
    that is empty, too long or taken, or a code that is not 12 digits or taken."""
    name = _clean_name(conn, name)
    code = str(code or "").strip()
    if not CODE_RE.match(code):
        raise UserError("township.bad_code")
    if conn.execute(sa.select(S.township.c.id).where(S.township.c.code == code)).first() is not None:
        raise UserError("township.code_taken", code=code)
    return conn.execute(sa.insert(S.township).values(code=code, name=name)
                        .returning(S.township.c.id)).scalar_one()


def _require_county(actor) -> None:
    if isinstance(actor, dict) and not auth.can(actor, "manage_townships"):
        raise UserError("auth.forbidden")


def add(conn, name, code, actor="system") -> int:
    """A township added by hand (the 系统管理 page, a county administrator), audited."""
    _require_county(actor)
    tid = insert(conn, name, code)
    record_added(conn, actor, name=str(name).strip(), code=str(code).strip())
    return tid


def record_added(conn, actor, **detail) -> None:
    """The audit row of a new township, however it came (by hand, or a villages registry)."""
    auth.record(conn, auth.actor_name(actor), ADD, True, {"township": detail.pop("name"), **detail})


def rename(conn, township_id: int, name, actor="system") -> None:
    """Rename a township (its code, villages and users stay), audited."""
    _require_county(actor)
    old = conn.execute(sa.select(S.township.c.name, S.township.c.code)
                       .where(S.township.c.id == int(township_id))).first()
    if old is None:
        raise UserError("auth.unknown_township", name=str(township_id))
    name = _clean_name(conn, name, township_id)
    conn.execute(sa.update(S.township).where(S.township.c.id == int(township_id)).values(name=name))
    auth.record(conn, auth.actor_name(actor), RENAME, True,
                {"township": name, "old": old.name, "code": old.code})


def listing(conn, actor=None) -> list[dict]:
    """The townships ``actor`` may see (None, a string: every one), by code, each with its
    number of villages, grids and users (a user acting for two townships counts in both; a
    clerk in the townships of their villages; county-wide leaders and admins in none)."""
    t, v, g = S.township, S.village, S.grid
    vis = auth.visible_township_ids(actor) if isinstance(actor, dict) else None
    villages = dict(conn.execute(sa.select(v.c.township_id, sa.func.count())
                                 .group_by(v.c.township_id)).all())
    grids = dict(conn.execute(sa.select(v.c.township_id, sa.func.count())
                              .select_from(g.join(v, v.c.id == g.c.village_id))
                              .group_by(v.c.township_id)).all())
    clerks = sa.select(v.c.township_id.label("tid"), S.user_scope.c.user_id.label("uid")) \
        .select_from(S.user_scope.join(v, v.c.id == S.user_scope.c.village_id))
    staff = sa.select(S.user_township.c.township_id.label("tid"), S.user_township.c.user_id.label("uid"))
    both = sa.union(clerks, staff).subquery()    # union: a user once per township
    users = dict(conn.execute(sa.select(both.c.tid, sa.func.count()).group_by(both.c.tid)).all())
    out = []
    for r in conn.execute(sa.select(t.c.id, t.c.name, t.c.code).order_by(t.c.code)).mappings():
        if vis is not None and r["id"] not in vis:
            continue
        out.append({**r, "villages": int(villages.get(r["id"], 0)),
                    "grids": int(grids.get(r["id"], 0)), "users": int(users.get(r["id"], 0))})
    return out
