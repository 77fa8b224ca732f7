"""Migration 0008_sugg on a database with rows: the batch kind CHECK is widened in place (on SQLite
by rewriting its stored definition, so import_batch and the batch_change rows hanging off it
stay), and a downgrade narrows it again (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic import command

from dashboard.db.engine import alembic_config, get_engine, migrate


def _batch(conn, kind):
    conn.execute(sa.text("INSERT INTO import_batch (kind, file_name, sha256, username, created_at, "
                         "rows_read, inserted, updated, unchanged, state, deleted) VALUES "
                         "(:k, 'f', :s, 'u', :t, 0, 0, 0, 0, 'applied', 0)"),
                 {"k": kind, "s": "0" * 64, "t": datetime(2025, 1, 1)})
    return conn.execute(sa.text("SELECT MAX(id) FROM import_batch")).scalar()


def test_upgrade_keeps_batches_and_widens_the_kind_check(db_url):
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0007_agg_stock")
    eng = get_engine(db_url)
    with eng.begin() as c:
        bid = _batch(c, "disputes")
        c.execute(sa.text("INSERT INTO batch_change (batch_id, table_name, row_id) VALUES (:b, 'dispute', 1)"),
                  {"b": bid})
    with pytest.raises(sa.exc.IntegrityError), eng.begin() as c:
        _batch(c, "suggestions")
    migrate(db_url)   # as the app upgrades: its engine's connection (foreign keys on), one transaction
    with eng.begin() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM batch_change")).scalar() == 1
        assert c.execute(sa.text("SELECT kind FROM import_batch")).scalars().all() == ["disputes"]
        _batch(c, "suggestions")
    with pytest.raises(sa.exc.IntegrityError), eng.begin() as c:
        _batch(c, "pictures")
    command.downgrade(cfg, "0007_agg_stock")
    with eng.begin() as c:
        assert c.execute(sa.text("SELECT kind FROM import_batch")).scalars().all() == ["disputes"]
        assert c.execute(sa.text("SELECT COUNT(*) FROM batch_change")).scalar() == 1
        assert "suggestion" not in sa.inspect(c).get_table_names()
    with pytest.raises(sa.exc.IntegrityError), eng.begin() as c:
        _batch(c, "suggestions")
    command.upgrade(cfg, "head")
