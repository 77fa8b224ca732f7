"""One module per ``python -m dashboard`` command."""


def add_db_argument(parser) -> None:
    parser.add_argument("--db", metavar="URL", default=None,
                        help="database URL (default: DATABASE_URL or data/dashboard.db)")
