"""`python -m dashboard copy` moves every row, with its id, SQLite → PostgreSQL and back.

Without TEST_DATABASE_URL the middle database is a second SQLite file; with it, a
sibling PostgreSQL database (<db>_copy). Every table's rows must be identical at each
step, new rows after the copy get fresh ids (sequences reset), the metrics agree, and a
non-empty target is refused.
"""
from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from conftest import ON_PG, PG_URL, _pg_sibling
from dashboard import aggregates, metrics, periods
from dashboard.commands import copy as copy_cmd
from dashboard.db import schema as S
from dashboard.db.engine import dispose_all, get_engine, migrate, write_txn

SKIP = copy_cmd.SKIP   # alembic's bookkeeping and PostGIS's own catalogue


def _norm(v):
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, datetime):
        return v.replace(microsecond=0)
    if isinstance(v, bool):
        return int(v)
    return v


def _dump(url) -> dict:
    """Every stored row of every table; generated columns (PostGIS geom, derived by the
    database from the boundary text) are checked to follow the text instead."""
    eng = get_engine(url)
    md = copy_cmd._tables(eng)
    out = {}
    with eng.connect() as conn:
        for t in md.sorted_tables:
            if t.name in SKIP:
                continue
            stored = [c for c in t.columns if c.computed is None]
            for c in t.columns:
                if c.computed is not None:  # geom is there exactly where a boundary is
                    assert conn.execute(sa.select(sa.func.count()).select_from(t).where(
                        (c.is_(None)) != (t.c.geometry.is_(None)))).scalar() == 0
            rows = conn.execute(sa.select(*stored)).mappings().all()
            out[t.name] = sorted((tuple(sorted((k, _norm(v)) for k, v in r.items())) for r in rows),
                                 key=repr)
    return out


@pytest.fixture
def middle_url(tmp_path):
    if ON_PG:
        dispose_all()
        return _pg_sibling(PG_URL, "copy")
    return f"sqlite:///{tmp_path / 'middle.db'}"


def test_copy_there_and_back(middle_url, tmp_path, capsys):
    from dashboard import demo
    from dashboard.__main__ import main
    src = f"sqlite:///{tmp_path / 'township.db'}"   # a township's SQLite file
    assert demo.seed_if_empty(migrate(src))
    # a user and an audit row too, so that every kind of table has rows
    with write_txn(get_engine(src)) as conn:
        uid = conn.execute(sa.insert(S.app_user).values(username="clerk1", password_hash="x", role="clerk",
                                                        created_at=datetime(2025, 1, 2, 3, 4, 5))
                           .returning(S.app_user.c.id)).scalar_one()
        vid = conn.execute(sa.select(S.village.c.id)).scalars().first()
        conn.execute(sa.insert(S.user_scope).values(user_id=uid, village_id=vid))
        conn.execute(sa.insert(S.audit_log).values(at=datetime(2025, 1, 2), username="clerk1", action="login"))
    before = _dump(src)
    assert main(["copy", "--from", src, "--to", middle_url]) == 0
    assert "copied" in capsys.readouterr().out
    middle = _dump(middle_url)
    assert middle == before
    assert sum(len(v) for v in middle.values()) > 2000

    # ids continue after the copied ones (PostgreSQL sequences reset)
    eng = get_engine(middle_url)
    with eng.connect() as conn:
        top = conn.execute(sa.select(sa.func.max(S.dispute.c.id))).scalar()
        assert aggregates.is_fresh(conn)
        want = metrics.compute(conn, periods.year(2025))
    with eng.connect() as conn:
        nested = conn.begin()
        new_id = conn.execute(sa.insert(S.dispute).values(
            case_no="NEW-1", village_id=vid, category="其他", reported_on=date(2025, 6, 1),
            status="received").returning(S.dispute.c.id)).scalar_one()
        assert new_id == top + 1
        nested.rollback()
    with get_engine(src).connect() as conn:
        assert metrics.compute(conn, periods.year(2025)) == want

    # and back into a fresh SQLite file
    back = f"sqlite:///{tmp_path / 'back.db'}"
    assert main(["copy", "--from", middle_url, "--to", back, "--json"]) == 0
    assert _dump(back) == before


def test_copy_refuses_a_target_with_rows(demo_url, tmp_path):
    # demo_url is PostgreSQL under TEST_DATABASE_URL: the refusal is checked PG → SQLite then
    target = f"sqlite:///{tmp_path / 'busy.db'}"
    with write_txn(migrate(target)) as conn:
        conn.execute(sa.insert(S.township).values(code="360000000001", name="别的镇"))
    with pytest.raises(SystemExit, match="refused"):
        copy_cmd.copy(demo_url, target, log=lambda *_: None)
    with get_engine(target).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(S.village)).scalar() == 0


def test_stale_aggregates_are_rebuilt_on_the_target(middle_url, tmp_path):
    """A township file whose aggregates are stale (an older release, a hand-made fix) arrives
    with them rebuilt: fresh, and equal to a recomputation from the raw rows."""
    from dashboard import demo
    src = f"sqlite:///{tmp_path / 'stale.db'}"
    assert demo.seed_if_empty(migrate(src))
    with write_txn(get_engine(src)) as conn:   # a hand-made fix without a refresh
        vid = conn.execute(sa.select(S.village.c.id)).scalars().first()
        conn.execute(sa.insert(S.dispute).values(case_no="HAND-9", village_id=vid, category="其他",
                                                 reported_on=date(2025, 5, 5), status="received"))
    with get_engine(src).connect() as conn:
        assert not aggregates.is_fresh(conn)
        want = metrics.compute(conn, periods.year(2025))["township"]
    copy_cmd.copy(src, middle_url, log=lambda *_: None)
    with get_engine(middle_url).connect() as conn:
        assert aggregates.is_fresh(conn)
        assert aggregates.snapshot(conn) == aggregates.recomputed(conn)
        assert metrics.compute(conn, periods.year(2025))["township"] == want
