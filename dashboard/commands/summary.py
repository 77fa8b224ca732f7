from dashboard.commands import add_db_argument

HELP = "print the row counts of the database"


def add_arguments(p):
    add_db_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON object")


def run(args) -> int:
    import json
    from dashboard.db import migrate
    from dashboard.queries.summary import counts
    engine = migrate(args.db)
    with engine.connect() as conn:
        c = counts(conn)
    if args.json:
        print(json.dumps(c, ensure_ascii=False))
    else:
        width = max(len(k) for k in c)
        for k, v in c.items():
            print(f"{k:<{width}}  {v:>9,}")
    return 0
