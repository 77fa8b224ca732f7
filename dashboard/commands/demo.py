from dashboard.commands import add_db_argument

HELP = "build the demo township (演示数据) into an empty database"


def add_arguments(p):
    add_db_argument(p)
    p.add_argument("--seed", type=int, default=20240101, help="random seed (same seed, same rows)")
    p.add_argument("--if-empty", action="store_true",
                   help="do nothing (exit 0) when the database already has villages")


def run(args) -> int:
    from dashboard import demo
    from dashboard.db import migrate
    from dashboard.db.engine import write_txn
    engine = migrate(args.db)
    with write_txn(engine) as conn:
        if not demo.is_empty(conn):
            if args.if_empty:
                print("database already has data; demo not seeded")
                return 0
            print("refused: the database already has villages; use an empty database for the demo")
            return 1
        demo.write(conn, demo.build(args.seed))
    print("demo township seeded")
    return 0
