"""``python -m dashboard completeness``: which villages reported which ledgers for a month."""
from dashboard.commands import add_db_argument

HELP = "print the reporting completeness of a month (报送情况: reported / zero / missing, on time or late)"


def add_arguments(p):
    add_db_argument(p)
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="the month reported on")
    p.add_argument("--json", action="store_true",
                   help='one JSON object: {"month", "deadline", "villages": {name: {kind: '
                        'reported|zero|missing}}, "timing", "first_reported_at", "missing", "late", "counts"}')
    p.add_argument("--lang", choices=("zh", "en"), default=None, help="language of the text output")


def run(args) -> int:
    import json
    import sys

    from dashboard import settings
    from dashboard.db import migrate
    from dashboard.queries import completeness as C
    from loaders.zero import parse_month
    try:
        month = parse_month(args.month)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    engine = migrate(args.db)
    lang = args.lang or settings.get("DASHBOARD_LANG")
    with engine.connect() as conn:
        if args.json:
            print(json.dumps(C.month_doc(conn, month), ensure_ascii=False))
            return 0
        bd = C.board(conn, [month])
    print(C.summary_line(bd, month, lang))
    for line in C.lines(bd, month, lang, late=True):
        print(line)
    print()
    print(C.frame(bd, lang).to_string())
    return 0
