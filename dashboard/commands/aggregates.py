from dashboard.commands import add_db_argument

HELP = "rebuild the pre-aggregated figures from the raw rows (after an upgrade or a hand-made fix)"


def add_arguments(p):
    add_db_argument(p)
    p.add_argument("--check", action="store_true",
                   help="only compare the aggregates with a recomputation (exit 1 if they differ)")


def run(args) -> int:
    import time
    from dashboard import aggregates
    from dashboard.db import migrate
    from dashboard.db.engine import write_txn
    engine = migrate(args.db)
    if args.check:
        with engine.connect() as conn:
            fresh = aggregates.is_fresh(conn)
            same = aggregates.snapshot(conn) == aggregates.recomputed(conn)
        print(f"fresh: {fresh}; equal to a recomputation from the raw rows: {same}")
        return 0 if same else 1
    t0 = time.perf_counter()
    with write_txn(engine) as conn:
        r = aggregates.refresh(conn)
    print(f"aggregates rebuilt ({r['periods']} calendar periods) in {time.perf_counter() - t0:.1f} s")
    return 0
