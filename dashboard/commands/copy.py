"""``python -m dashboard copy --from URL --to URL``: move every row between databases.

For a township moving into the county: its SQLite file into the county's PostgreSQL
(and back, e.g. for an offline copy). Both ends are first upgraded to the newest
schema; the target must hold no rows. Every table is copied in foreign-key order
with its ids unchanged, in one transaction on the target (all or nothing); on
PostgreSQL the id sequences are then moved past the copied ids, so new rows get
new ids. The pre-aggregates are copied as they are and rebuilt on the target if they were stale.
Row counts are compared at the end.
"""
from __future__ import annotations

HELP = "copy every row from one database to another, keeping ids (SQLite ⇄ PostgreSQL)"

# alembic's own bookkeeping; PostGIS's catalogue of coordinate systems (the extension's rows)
SKIP = {"alembic_version", "spatial_ref_sys"}
CHUNK = 20_000


def add_arguments(p):
    p.add_argument("--from", dest="src", required=True, metavar="URL", help="source database URL")
    p.add_argument("--to", dest="dst", required=True, metavar="URL", help="target database URL (must be empty)")
    p.add_argument("--json", action="store_true", help="print the per-table counts as JSON")


def _tables(engine):
    import warnings
    import sqlalchemy as sa
    md = sa.MetaData()
    with warnings.catch_warnings():  # PostGIS's geometry type is unknown to plain SQLAlchemy
        warnings.filterwarnings("ignore", message="Did not recognize type", category=sa.exc.SAWarning)
        md.reflect(engine)
    return md


def _nonempty(conn, md) -> list[str]:
    import sqlalchemy as sa
    keep = {"data_version", "agg_state"}  # rows the migrations themselves may write
    return [t.name for t in md.sorted_tables if t.name not in SKIP | keep
            and conn.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first()]


def _insert_chunk(conn, table, cols: list[str], rows: list[tuple]) -> None:
    from dashboard.db.dialect import is_postgres
    if not rows:
        return
    if is_postgres(conn):
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy(f'COPY "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) FROM STDIN') as cp:
                for r in rows:
                    cp.write_row(r)
    else:
        conn.execute(table.insert(), [dict(zip(cols, r)) for r in rows])


def _reset_sequences(conn, md) -> None:
    import sqlalchemy as sa
    for t in md.sorted_tables:
        if t.name in SKIP or "id" not in t.c or len(t.primary_key.columns) != 1:
            continue
        if not isinstance(t.c.id.type, sa.Integer):
            continue
        seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": t.name}).scalar()
        if seq:
            conn.execute(sa.text(f'SELECT setval(:s, COALESCE((SELECT MAX(id) FROM "{t.name}"), 1), '
                                 f'(SELECT MAX(id) IS NOT NULL FROM "{t.name}"))'), {"s": seq})


def copy(src_url: str, dst_url: str, log=print) -> dict:
    """Copy every row; returns {table: (source rows, target rows)}. Raises on a non-empty target."""
    import sqlalchemy as sa
    from dashboard.db.dialect import is_postgres
    from dashboard.db.engine import migrate, write_txn
    src = migrate(src_url)
    dst = migrate(dst_url)
    smd, dmd = _tables(src), _tables(dst)
    counts: dict[str, tuple[int, int]] = {}
    with src.connect() as sconn, write_txn(dst) as dconn:
        busy = _nonempty(dconn, dmd)
        if busy:
            raise SystemExit(f"refused: the target already has rows in {', '.join(busy)}; "
                             f"copy only into an empty database")
        for name in ("data_version", "agg_state"):
            if name in dmd.tables:
                dconn.execute(dmd.tables[name].delete())
        for dt in dmd.sorted_tables:
            if dt.name in SKIP or dt.name not in smd.tables:
                continue
            st = smd.tables[dt.name]
            # generated columns (PostGIS geom, migration 0004) are the target's to compute
            cols = [c.name for c in dt.columns if c.name in st.c and c.computed is None]
            order = [st.c[c.name] for c in st.primary_key.columns] or [st.c[cols[0]]]
            n = 0
            result = sconn.execution_options(stream_results=True, yield_per=CHUNK).execute(
                sa.select(*[st.c[c] for c in cols]).order_by(*order))
            for part in result.partitions(CHUNK):
                rows = [tuple(r) for r in part]
                _insert_chunk(dconn, dt, cols, rows)
                n += len(rows)
            m = dconn.execute(sa.select(sa.func.count()).select_from(dt)).scalar_one()
            counts[dt.name] = (n, int(m))
            if n:
                log(f"{dt.name:<24} {n:>10,}")
        if is_postgres(dconn):
            _reset_sequences(dconn, dmd)
        # the ledger inserts fired the aggregates' dirty triggers: restore the source's state
        if "agg_state" in dmd.tables and "agg_state" in smd.tables:
            at = dmd.tables["agg_state"]
            dconn.execute(at.delete())
            rows = sconn.execute(sa.select(smd.tables["agg_state"])).mappings().all()
            if rows:
                dconn.execute(at.insert(), [dict(r) for r in rows])
        # stale in the source (e.g. a file from an older release): rebuilt here, so the county
        # database never starts with metrics read from the raw rows
        from dashboard import aggregates
        if not aggregates.is_fresh(dconn):
            aggregates.refresh(dconn)
            log("aggregates rebuilt (they were stale in the source)")
        bad = {k: v for k, v in counts.items() if v[0] != v[1]}
        if bad:
            raise RuntimeError(f"row counts differ after copy: {bad}")
    return counts


def run(args) -> int:
    import json
    from dashboard.db.engine import normalise_url
    counts = copy(normalise_url(args.src), normalise_url(args.dst),
                  log=(lambda *_: None) if args.json else print)
    if args.json:
        print(json.dumps({k: v[1] for k, v in counts.items()}))
    else:
        print(f"copied {sum(v[1] for v in counts.values()):,} rows in {len(counts)} tables")
    return 0
