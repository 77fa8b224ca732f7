"""``python -m dashboard metrics``: every registry metric for a period, township and villages."""
from dashboard.commands import add_db_argument

HELP = "print every metric of the registry for a period (township and each village)"


def add_arguments(p):
    add_db_argument(p)
    p.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                   help="first day of the period (inclusive)")
    p.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD",
                   help="last day of the period (inclusive)")
    p.add_argument("--village", nargs="+", action="extend", metavar="NAME", default=None,
                   help="only these villages (by name); the township figures are then theirs together")
    p.add_argument("--json", action="store_true",
                   help='one JSON object: {"period": [from, to], "township": {...}, "villages": {...}}')


def _date(text: str):
    from datetime import date
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"not a date (YYYY-MM-DD): {text!r}")


def village_ids(rows: list[dict], village_names) -> list[int] | None:
    """--village names → ids (None: every village); LookupError naming the unknown ones."""
    if not village_names:
        return None
    by_name = {v["name"]: v["id"] for v in rows}
    unknown = [n for n in village_names if n not in by_name]
    if unknown:
        raise LookupError(", ".join(unknown))
    return [by_name[n] for n in village_names]


def period_document(args, report):
    """``report(conn, start, end, villages)`` for --from/--to/--village/--db, or the exit code 2
    with its reason on stderr (dates the wrong way round, an unknown village)."""
    import sys
    from dashboard.db import migrate
    start, end = _date(args.start), _date(args.end)
    if end < start:
        print("--to is before --from", file=sys.stderr)
        return 2
    with migrate(args.db).connect() as conn:
        try:
            return report(conn, start, end, args.village)
        except LookupError as exc:
            print(f"unknown village: {exc}", file=sys.stderr)
            return 2


def report(conn, start, end, village_names=None) -> dict:
    """The JSON document the command prints (plain Python values)."""
    from dashboard import metrics
    from dashboard.periods import Period
    from dashboard.queries.summary import villages
    rows = villages(conn)
    ids = village_ids(rows, village_names)
    r = metrics.compute(conn, Period(start, end, "custom"), ids)
    names = {v["id"]: v["name"] for v in rows}
    order = [v["id"] for v in rows if v["id"] in r["villages"]]
    return {"period": [start.isoformat(), end.isoformat()],
            "township": metrics.table(r["township"]),
            "villages": {names[vid]: metrics.table(r["villages"][vid]) for vid in order}}


def _print_table(doc: dict) -> None:
    from dashboard import fmt, metrics
    print(f"统计期间 Period: {doc['period'][0]} .. {doc['period'][1]}")
    print()
    print("全镇 Township")
    width = max(len(m.zh) for m in metrics.METRICS.values()) + 2
    for k, v in doc["township"].items():
        m = metrics.METRICS[k]
        unit = "" if m.kind == "rate" else m.unit_zh
        print(f"  {m.zh:\u3000<{width}} {fmt.value(v, m.kind):>12} {unit:\u3000<6} {k}")
    cols = ("disputes_total", "disputes_resolved", "resolution_rate", "median_days_to_resolve",
            "overdue_open", "volunteer_hours", "volunteer_hours_per_100_residents", "rep_visits",
            "suggestion_resolution_rate")
    print()
    print("各村（社区） Villages")
    head = ["村（社区）"] + [metrics.METRICS[c].zh for c in cols]
    rows = [[name] + [fmt.value(vals[c], metrics.METRICS[c].kind) for c in cols]
            for name, vals in doc["villages"].items()]
    widths = [max(_w(r[i]) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(_pad(cell, w, i == 0) for i, (cell, w) in enumerate(zip(r, widths))))


def _w(text: str) -> int:
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, left: bool) -> str:
    fill = " " * (width - _w(text))
    return text + fill if left else fill + text


def run(args) -> int:
    import json
    doc = period_document(args, report)
    if isinstance(doc, int):
        return doc
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
    else:
        _print_table(doc)
    return 0
