from dashboard.commands import add_db_argument

HELP = "create or upgrade the database schema (keeps every row)"


def add_arguments(p):
    add_db_argument(p)


def run(args) -> int:
    from dashboard.db import migrate
    e = migrate(args.db)
    print(f"schema up to date: {e.url.render_as_string(hide_password=True)}")
    return 0
