"""Model constraints and migrations, on SQLite and (with TEST_DATABASE_URL) PostgreSQL."""
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from dashboard.db import migrate, schema as S
from dashboard.db.engine import bump_version, current_version, run_write, write_txn


def _town_village(conn):
    tid = conn.execute(sa.insert(S.township).values(code="360121105000", name="测试镇")
                       .returning(S.township.c.id)).scalar_one()
    vid = conn.execute(sa.insert(S.village).values(township_id=tid, name="红旗村", households=100,
                                                   population=300).returning(S.village.c.id)).scalar_one()
    return tid, vid


def _dispute(vid, **kw):
    row = dict(case_no="A-1", village_id=vid, category="邻里纠纷", reported_on=date(2025, 3, 1),
               parties=2, status="received")
    row.update(kw)
    return row


def test_migration_creates_every_table(engine):
    names = set(sa.inspect(engine).get_table_names())
    assert set(S.metadata.tables) <= names
    assert "alembic_version" in names


def test_upgrade_in_place_keeps_rows(engine, db_url):
    with write_txn(engine) as c:
        _town_village(c)
    migrate(db_url)  # a second upgrade is a no-op that keeps every row
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(S.village)).scalar_one() == 1


def test_single_migration_head():
    from alembic.script import ScriptDirectory
    from dashboard.db.engine import alembic_config
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1


@pytest.mark.parametrize("bad", [
    dict(parties=-1),
    dict(status="closed"),
    dict(status="resolved"),                                       # no resolved date or level
    dict(status="resolved", resolved_on=date(2025, 2, 1), level="grid"),  # before reported
    dict(status="resolved", resolved_on=date(2025, 3, 2), level="province"),
    dict(status="received", resolved_on=date(2025, 3, 2)),         # a date but not resolved
])
def test_dispute_constraints_refuse(engine, bad):
    with write_txn(engine) as c:
        _, vid = _town_village(c)
    with pytest.raises(sa.exc.IntegrityError):
        with write_txn(engine) as c:
            c.execute(sa.insert(S.dispute).values(**_dispute(vid, **bad)))


def test_dispute_resolved_same_day_is_fine(engine):
    with write_txn(engine) as c:
        _, vid = _town_village(c)
        c.execute(sa.insert(S.dispute).values(**_dispute(vid, status="resolved",
                                                         resolved_on=date(2025, 3, 1), level="grid")))


def test_case_number_unique_within_village(engine):
    with write_txn(engine) as c:
        tid, vid = _town_village(c)
        vid2 = c.execute(sa.insert(S.village).values(township_id=tid, name="建设村")
                         .returning(S.village.c.id)).scalar_one()
        c.execute(sa.insert(S.dispute).values(**_dispute(vid)))
        c.execute(sa.insert(S.dispute).values(**_dispute(vid2)))  # same number, other village
    with pytest.raises(sa.exc.IntegrityError):
        with write_txn(engine) as c:
            c.execute(sa.insert(S.dispute).values(**_dispute(vid)))


def test_foreign_keys_enforced(engine):
    with pytest.raises(sa.exc.IntegrityError):
        with write_txn(engine) as c:
            c.execute(sa.insert(S.dispute).values(**_dispute(9999)))


@pytest.mark.parametrize("table,row", [
    ("volunteer_activity", dict(activity_no="Z1", held_on=date(2025, 1, 1), team="t", category="c",
                                participants=-3, hours=1.0)),
    ("volunteer_activity", dict(activity_no="Z1", held_on=date(2025, 1, 1), team="t", category="c",
                                participants=3, hours=-1.0)),
    ("rep_visit", dict(record_no="R1", rep_name="王某", rep_type="party", visited_on=date(2025, 1, 1),
                       form="home", voters=5, suggestions=2, resolved=2, referred=1)),
    ("rep_visit", dict(record_no="R1", rep_name="王某", rep_type="mayor", visited_on=date(2025, 1, 1),
                       form="home")),
])
def test_ledger_constraints_refuse(engine, table, row):
    with write_txn(engine) as c:
        _, vid = _town_village(c)
    with pytest.raises(sa.exc.IntegrityError):
        with write_txn(engine) as c:
            c.execute(sa.insert(S.metadata.tables[table]).values(village_id=vid, **row))


def test_village_code_is_12_digits_and_counts_non_negative(engine):
    with write_txn(engine) as c:
        tid, _ = _town_village(c)
    for bad in (dict(code="12345"), dict(households=-1), dict(kind="city")):
        with pytest.raises(sa.exc.IntegrityError):
            with write_txn(engine) as c:
                c.execute(sa.insert(S.village).values(township_id=tid, name="坏村", **bad))


def test_data_version_bumps(engine):
    v0 = current_version(engine)
    run_write(engine, bump_version)
    run_write(engine, bump_version)
    assert current_version(engine) == v0 + 2


def test_batch_kind_checked(engine):
    with pytest.raises(sa.exc.IntegrityError):
        with write_txn(engine) as c:
            c.execute(sa.insert(S.import_batch).values(kind="pictures", file_name="x", sha256="0" * 64,
                                                       created_at=datetime.now()))
