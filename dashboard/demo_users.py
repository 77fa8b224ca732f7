"""Demo accounts, one per role, created with the demo township.

Their passwords are public on purpose: the login page lists them, but only when
the database is the demo one (``township.is_demo``). Never seed them into a real
database; :func:`seed_demo_users` is called from ``dashboard.demo.write``.
"""
from __future__ import annotations

import sqlalchemy as sa

from dashboard import auth
from dashboard.db import schema as S

CLERK_VILLAGE = "红旗村"

# (username, role, display name, password, villages in scope)
DEMO_USERS = (
    ("leader", "leader", "镇领导（演示）", "demo-leader-2024", ()),
    ("clerk", "clerk", "红旗村文书（演示）", "demo-clerk-2024", (CLERK_VILLAGE,)),
    ("admin", "admin", "系统管理员（演示）", "demo-admin-2024", ()),
)


def seed_demo_users(conn) -> list[str]:
    """Create the demo users that do not exist yet (in the caller's transaction)."""
    made = []
    for username, role, display, password, villages in DEMO_USERS:
        if auth.get_user(conn, username) is not None:
            continue
        ids = [v for (v,) in conn.execute(sa.select(S.village.c.id)
                                          .where(S.village.c.name.in_(villages)))]
        if role == "clerk" and not ids:
            first = conn.execute(sa.select(S.village.c.id).order_by(S.village.c.code)).scalar()
            if first is None:
                continue
            ids = [first]
        auth.create_user(conn, username, password, role, ids, display_name=display, actor="demo")
        made.append(username)
    return made


def login_hints(lang: str = "zh") -> list[dict]:
    """What the login page shows in demo mode: who to log in as, and the password."""
    from dashboard.i18n import t
    return [{"username": u, "password": p, "role": t(f"auth.role.{r}", lang), "name": d}
            for u, r, d, p, _ in DEMO_USERS]
