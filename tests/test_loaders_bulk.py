"""The intake's bulk path (big files), exercised on a small ledger with lowered thresholds.

* A bulk load stores exactly the rows a row-by-row load stores, and leaves the table's indexes,
  constraints and the aggregates' triggers as they were (SQLite drops and rebuilds the secondary
  indexes inside the import's transaction).
* Re-uploading the same file changes nothing; a corrected file updates with ``before`` values.
* Undo of a bulk load (which records its updates in batch_change, and its inserts only through
  the rows' batch_id) restores exactly, keeps the aggregates equal to a recomputation, and is
  refused while a later batch has changed one of its rows.
* A failure inside the bulk load's transaction leaves nothing behind, indexes and triggers included.
* A big UTF-8 file is read from a decoded head plus pyarrow's own UTF-8 check; anything else
  (bytes that are not UTF-8 after the head) takes the full decode, with the same result as before.
"""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa

import loaders
from dashboard import aggregates, scale
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from loaders import ingest, read


@pytest.fixture
def county(engine, tmp_path):
    """The tiny county's villages and grids, and its 3,000 disputes as one clerk CSV."""
    c = scale.build(scale.tiny(), seed=5)
    with write_txn(engine) as conn:
        scale.write(conn, c, ledgers=())
    path = tmp_path / "disputes.csv"
    n = scale.write_disputes_csv(path, c)
    return path.read_bytes(), n


@pytest.fixture
def bulk(monkeypatch):
    """Thresholds low enough for the tiny county to take every bulk path."""
    monkeypatch.setattr(ingest, "BULK_ROWS", 100)
    monkeypatch.setattr(ingest, "BULK_VALUES", 7)        # several statements and a remainder
    monkeypatch.setattr(ingest, "REFRESH_MAX_ROWS", 200)
    monkeypatch.setattr(loaders, "GC_PAUSE_BYTES", 0)
    monkeypatch.setattr(read, "HEAD_BYTES", 4096)


def imp(engine, data, name="disputes.csv", **options):
    return loaders.import_file(engine, data, name, kind="disputes", username="test", **options)


def ledger_rows(engine, with_ids=False) -> list[tuple]:
    cols = [c for c in S.dispute.c if with_ids or c.name not in ("id", "batch_id")]
    with engine.connect() as c:
        return sorted(tuple(r) for r in c.execute(sa.select(*cols)).all())


def tables(engine) -> dict:
    with engine.connect() as c:
        return {t.name: sorted(tuple(r) for r in c.execute(sa.select(t)).all())
                for t in (S.dispute, S.batch_change, S.village, S.grid)}


def structure(engine) -> dict:
    """Indexes, unique constraints and triggers of the dispute table."""
    insp = sa.inspect(engine)
    out = {"indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                             for i in insp.get_indexes("dispute")),
           "unique": sorted((u["name"], tuple(u["column_names"]))
                            for u in insp.get_unique_constraints("dispute"))}
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            out["triggers"] = sorted(tuple(r) for r in c.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'dispute'"))
            out["integrity"] = c.exec_driver_sql("PRAGMA integrity_check").scalar()
        else:
            out["triggers"] = sorted(r[0] for r in c.exec_driver_sql(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'dispute'::regclass AND NOT tgisinternal"))
    return out


def assert_aggregates_right(engine):
    with engine.connect() as conn:
        assert aggregates.snapshot(conn) == aggregates.recomputed(conn)


def test_bulk_load_stores_what_a_row_by_row_load_stores(engine, county, monkeypatch):
    data, n = county
    shape = structure(engine)
    assert any(i[0] == "ix_dispute_reported" for i in shape["indexes"])
    first = imp(engine, data)                       # 3,000 rows: the ordinary path
    assert (first.inserted, first.errors) == (n, [])
    want = ledger_rows(engine)
    loaders.undo_batch(engine, first.batch_id)
    assert ledger_rows(engine) == []

    monkeypatch.setattr(ingest, "BULK_ROWS", 100)
    monkeypatch.setattr(ingest, "BULK_VALUES", 7)
    monkeypatch.setattr(ingest, "REFRESH_MAX_ROWS", 200)
    monkeypatch.setattr(loaders, "GC_PAUSE_BYTES", 0)
    res = imp(engine, data)
    assert (res.inserted, res.updated, res.unchanged, res.errors) == (n, 0, 0, [])
    assert ledger_rows(engine) == want
    assert structure(engine) == shape               # indexes and triggers rebuilt as they were
    with engine.connect() as c:
        # the rows carry the batch id; batch_change holds no row per inserted row
        assert c.execute(sa.select(sa.func.count()).select_from(S.dispute)
                         .where(S.dispute.c.batch_id == res.batch_id)).scalar() == n
        assert c.execute(sa.select(sa.func.count()).select_from(S.batch_change)
                         .where(S.batch_change.c.batch_id == res.batch_id)).scalar() == 0
        # too big for an in-transaction refresh: marked stale, so metrics read the raw rows
        assert not aggregates.is_fresh(c)
    with write_txn(engine) as conn:
        aggregates.refresh(conn)
    assert_aggregates_right(engine)


def test_bulk_reupload_changes_nothing_and_correction_updates(engine, county, bulk):
    data, n = county
    imp(engine, data)
    before = tables(engine)
    again = imp(engine, data)
    assert (again.inserted, again.updated, again.unchanged, again.errors) == (0, 0, n, [])
    assert tables(engine) == before
    lines = data.decode("utf-8-sig").splitlines()
    fixed = [lines[0]] + [ln.replace("网格排查", "群众来访") for ln in lines[1:]]
    changed = sum(1 for a, b in zip(lines, fixed) if a != b)
    assert changed > 100
    res = imp(engine, ("\n".join(fixed) + "\n").encode("utf-8"))
    assert (res.inserted, res.updated, res.unchanged) == (0, changed, n - changed)
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(S.batch_change).where(
            S.batch_change.c.batch_id == res.batch_id, S.batch_change.c.before.is_not(None))
        ).scalar() == changed


def _reported_jan1(line: str) -> str:
    cells = next(csv.reader([line]))
    cells[5] = cells[5][:4] + "-01-01"              # 登记日期: never after its 化解日期
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def test_bulk_undo_restores_exactly_and_keeps_aggregates_right(engine, county, bulk):
    data, n = county
    lines = data.decode("utf-8-sig").splitlines()
    first = imp(engine, ("\n".join(lines[:151]) + "\n").encode("utf-8"))   # 150 rows, refreshed
    assert (first.inserted, first.errors) == (150, [])
    with engine.connect() as c:
        assert aggregates.is_fresh(c)
    before = tables(engine)
    # the whole ledger, the first rows reported on their year's first day (other months, other
    # villages' figures): updates whose "before" months matter, and the rest inserted
    moved = [lines[0]] + [_reported_jan1(ln) if i <= 150 else ln
                          for i, ln in enumerate(lines[1:], start=1)]
    # moving a numbered case's date is refused as "probably a reused number" unless confirmed
    res = imp(engine, ("\n".join(moved) + "\n").encode("utf-8"), accept_reused=True)
    assert res.errors == []
    assert res.inserted == n - 150 and res.updated + res.unchanged == 150 and res.updated > 0
    with write_txn(engine) as conn:                 # an administrator's full rebuild
        aggregates.refresh(conn)
    out = loaders.undo_batch(engine, res.batch_id, username="test")
    assert (out["deleted"], out["restored"]) == (n - 150, res.updated)
    after = tables(engine)
    # the undone batch's own batch_change rows stay, as its history
    after["batch_change"] = [r for r in after["batch_change"] if r[1] != res.batch_id]
    assert after == before
    with engine.connect() as c:
        assert aggregates.is_fresh(c)
    assert_aggregates_right(engine)                 # the undo refreshed every village and month


def test_bulk_undo_refused_while_a_later_batch_changed_its_rows(engine, county, bulk):
    data, n = county
    big = imp(engine, data)
    lines = data.decode("utf-8-sig").splitlines()
    one = lines[1].replace("网格排查", "群众来访") if "网格排查" in lines[1] else \
        lines[1].replace(lines[1].split(",")[10], '"别人"')
    small = imp(engine, ("\n".join([lines[0], one]) + "\n").encode("utf-8"), "one.csv")
    assert (small.updated, small.errors) == (1, [])
    with pytest.raises(loaders.Refusal) as e:
        loaders.undo_batch(engine, big.batch_id)
    assert e.value.code == "undo_later_batch"
    assert len(ledger_rows(engine)) == n
    loaders.undo_batch(engine, small.batch_id)
    loaders.undo_batch(engine, big.batch_id)
    assert ledger_rows(engine) == []


def test_bulk_failure_leaves_nothing_behind(engine, county, bulk, monkeypatch):
    data, n = county
    shape, before = structure(engine), tables(engine)

    def boom(conn, batch_id, written):
        raise RuntimeError("after the rows were written")

    monkeypatch.setattr(ingest, "_refresh_aggregates", boom)
    res = imp(engine, data)
    assert res.refused == "internal" and res.batch_id is None
    assert tables(engine) == before
    assert structure(engine) == shape


def test_big_utf8_file_read_from_its_head(county, monkeypatch):
    data, n = county
    whole = read.read(data, "d.csv")
    monkeypatch.setattr(read, "HEAD_BYTES", 4096)
    quick = read.read(data, "d.csv")
    assert (quick.encoding, quick.header_row, quick.headers, quick.title) == \
        (whole.encoding, whole.header_row, whole.headers, whole.title) == \
        ("utf-8-sig", 1, whole.headers, "")
    assert quick.frame.equals(whole.frame) and len(quick.frame) == n
    # UTF-8 head, then GB18030 bytes: not text in any one encoding, refused as before
    text = data.decode("utf-8-sig")
    mixed = text[:len(text) // 2].encode("utf-8") + text[len(text) // 2:].encode("gb18030")
    codes = []
    for head in (10 ** 9, 4096):
        monkeypatch.setattr(read, "HEAD_BYTES", head)
        with pytest.raises(loaders.Refusal) as e:
            read.read(mixed, "m.csv")
        codes.append(e.value.code)
    assert codes == ["not_text", "not_text"]
    # a GB18030 ledger: the full decode, as before
    gbk = text.encode("gb18030")
    got = read.read(gbk, "g.csv")
    assert got.encoding in ("gbk", "gb18030") and got.frame.equals(whole.frame)


def test_bulk_load_still_enforces_check_constraints(engine, county, bulk, monkeypatch):
    """SQLite's bulk path checks the table's CHECK constraints once after the rows are in:
    a row that slipped past validation is still refused as a database conflict."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's COPY checks every row itself")
    data, n = county
    shape, before = structure(engine), tables(engine)
    real = ingest._bulk_column

    def one_negative(s, kind, size):
        a, na, words = real(s, kind, size)
        if s is not None and s.name == "parties":
            a[size // 2] = -1
        return a, na, words

    monkeypatch.setattr(ingest, "_bulk_column", one_negative)
    res = imp(engine, data)
    assert res.refused == "db_conflict" and "ck_dispute_parties" in res.errors[0]["message"]
    assert tables(engine) == before
    assert structure(engine) == shape
    with engine.connect() as c:     # the pragma was switched back: checks apply again
        assert c.exec_driver_sql("PRAGMA ignore_check_constraints").scalar() == 0


def test_grid_column_resolved_per_village_and_value(engine, county):
    """Grid cells are resolved once per (village, value): another village's grid code, an
    unknown name and a blank cell each get their own answer, row by row."""
    data, n = county
    lines = data.decode("utf-8-sig").splitlines()
    rows = [next(csv.reader([ln])) for ln in lines[1:]]
    other = next(r for r in rows if r[1] != rows[0][1])        # a row of another village
    bad = [list(r) for r in rows[:4]]
    bad[0][2] = other[2]                 # row 2: a grid of another village
    bad[1][2] = "没有这个地方"            # row 3: no such grid
    bad[2][2] = ""                       # row 4: blank is allowed
    bad[3][2] = rows[3][2]               # row 5: unchanged
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([next(csv.reader([lines[0]]))] + bad + rows[4:50])
    res = imp(engine, out.getvalue().encode("utf-8"))
    got = [(e["row"], e["code"]) for e in res.errors]
    assert got[0] == (2, "grid_other_village")
    assert got[1][0] == 3 and got[1][1] in ("unknown_grid", "unknown_grid_hint")
    assert len(got) == 2


def test_bulk_words_with_quotes_stored_as_written(engine, county, bulk):
    """Text columns with few distinct values are spelt by SQL in the bulk path: quotes survive."""
    data, n = county
    lines = data.decode("utf-8-sig").splitlines()
    rows = [next(csv.reader([ln])) for ln in lines[1:]]
    for i, r in enumerate(rows):
        if i % 3 == 0:
            r[4] = "邻里'纠纷\"它\""           # 纠纷类型
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([next(csv.reader([lines[0]]))] + rows)
    res = imp(engine, out.getvalue().encode("utf-8"))
    assert (res.inserted, res.errors) == (n, [])
    with engine.connect() as c:
        got = dict(c.execute(sa.select(S.dispute.c.case_no, S.dispute.c.category)).all())
    assert all(got[r[3]] == r[4] for r in rows)


def test_bulk_load_into_a_big_table_keeps_its_indexes(engine, county, bulk, monkeypatch):
    """A bulk load much smaller than the table adds to the secondary indexes instead of
    rebuilding them (SQLite); either way they end up as they were, and the rows are right."""
    data, n = county
    lines = data.decode("utf-8-sig").splitlines()
    first = imp(engine, ("\n".join(lines[:2501]) + "\n").encode("utf-8"))
    assert (first.inserted, first.errors) == (2500, [])
    shape = structure(engine)
    seen: list[str] = []
    if engine.dialect.name == "sqlite":
        from sqlalchemy import event

        def trace(dbapi_conn, record, proxy):
            dbapi_conn.set_trace_callback(seen.append)
        event.listen(engine, "checkout", trace)
    res = imp(engine, data)                          # 500 new rows into 2,500
    assert (res.inserted, res.unchanged, res.errors) == (n - 2500, 2500, [])
    if engine.dialect.name == "sqlite":
        event.remove(engine, "checkout", trace)
        assert any(q.startswith("DROP TRIGGER") for q in seen)
        assert not any(q.startswith("DROP INDEX") for q in seen)
    assert structure(engine) == shape
    assert len(ledger_rows(engine)) == n
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(S.dispute)
                         .where(S.dispute.c.reported_on > date(1990, 1, 1))).scalar() == n


@pytest.mark.parametrize("thresholds", ["ordinary", "bulk"])
def test_changed_numbers_are_updates_and_equal_numbers_are_not(engine, county, thresholds,
                                                              request):
    if thresholds == "bulk":
        request.getfixturevalue("bulk")
    data, n = county
    imp(engine, data)
    lines = data.decode("utf-8-sig").splitlines()
    rows = [next(csv.reader([ln])) for ln in lines[1:]]
    for i, r in enumerate(rows):
        if i % 7 == 0:
            r[6] = str(int(r[6]) + 1)               # 当事人数 changed
        elif i % 7 == 1:
            r[6] = f"{int(r[6])}.0"                 # the same number, written differently
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([next(csv.reader([lines[0]]))] + rows)
    res = imp(engine, out.getvalue().encode("utf-8"))
    changed = len(range(0, n, 7))
    assert (res.inserted, res.updated, res.unchanged, res.errors) == (0, changed, n - changed, [])


def test_touched_finds_the_inserts_of_a_bulk_load(engine, county, bulk):
    """A bulk load records no batch_change per inserted row: aggregates.touched() finds its
    villages and months through the rows' batch id (what refresh_batch and undo rebuild)."""
    data, n = county
    res = imp(engine, data)
    assert (res.inserted, res.errors) == (n, [])
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(S.batch_change)
                         .where(S.batch_change.c.batch_id == res.batch_id)).scalar() < n
        vids, months = aggregates.touched(c, res.batch_id)
        rows = c.execute(sa.select(S.dispute.c.village_id, S.dispute.c.reported_on)).all()
    assert vids == {int(v) for v, _ in rows} and len(vids) > 1
    assert months == {aggregates.month_index(d) for _, d in rows} and len(months) > 12
    with write_txn(engine) as conn:   # the full rebuild an administrator runs after a bulk load
        aggregates.refresh(conn)
    assert_aggregates_right(engine)


def test_postgresql_bulk_load_is_one_csv_copy(engine, county, bulk, monkeypatch):
    """PostgreSQL: the bulk insert is pyarrow's CSV through COPY (no Python object per value,
    the row-by-row COPY never taken), and stores what the ordinary path stores."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's COPY path")
    data, n = county
    monkeypatch.setattr(ingest, "BULK_ROWS", 10**9)   # the ordinary path first, for reference
    first = imp(engine, data)
    want = ledger_rows(engine)
    loaders.undo_batch(engine, first.batch_id)
    monkeypatch.setattr(ingest, "BULK_ROWS", 100)
    sent = []
    real = ingest._copy_insert_csv
    monkeypatch.setattr(ingest, "_copy_insert_csv", lambda *a: sent.append(real(*a)) or sent[-1])

    def row_by_row(*a):
        raise AssertionError("row-by-row COPY taken")
    monkeypatch.setattr(ingest, "_copy_insert", row_by_row)
    res = imp(engine, data)
    assert (res.inserted, res.errors, sent) == (n, [], [True])
    assert ledger_rows(engine) == want
