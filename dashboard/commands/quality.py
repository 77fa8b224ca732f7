"""``python -m dashboard quality``: the data-quality flags (数据质量) for a period."""
from dashboard.commands import add_db_argument

HELP = "print the data-quality flags for a period: rule, place, what tripped it, the rows behind it"


def add_arguments(p):
    add_db_argument(p)
    p.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                   help="first day of the period (inclusive)")
    p.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD",
                   help="last day of the period (inclusive)")
    p.add_argument("--village", nargs="+", action="extend", metavar="NAME", default=None,
                   help="only these villages (by name)")
    p.add_argument("--json", action="store_true",
                   help='one JSON object: {"period": [from, to], "count": n, "flags": [...]}')


def _plain(v):
    from datetime import date
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def report(conn, start, end, village_names=None, lang: str = "zh") -> dict:
    """The JSON document the command prints (plain Python values)."""
    from dashboard import quality
    from dashboard.periods import Period
    from dashboard.commands.metrics import village_ids
    from dashboard.queries.summary import villages
    ids = village_ids(villages(conn), village_names)
    fl = quality.flags(conn, Period(start, end, "custom"), ids)
    return {"period": [start.isoformat(), end.isoformat()], "count": len(fl), "flags": [
        {"rule": f.rule, "rule_text": quality.rule_text(f.rule, lang), "village": f.village, "grid": f.grid,
         "kind": f.kind, "period": None if f.end is None else [_plain(f.start), _plain(f.end)],
         "detail": quality.detail(f, lang), "values": _plain(f.values), "n_rows": f.n_rows,
         "rows": _plain(list(f.rows))} for f in fl]}


def run(args) -> int:
    import json

    from dashboard.commands.metrics import period_document
    doc = period_document(args, report)
    if isinstance(doc, int):
        return doc
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    print(f"数据质量标记 {doc['count']} 条（{doc['period'][0]} .. {doc['period'][1]}）")
    for i, f in enumerate(doc["flags"], start=1):
        place = f"{f['village']} · {f['grid']}" if f["grid"] else f["village"]
        print(f"{i}. [{f['rule']}] {place}: {f['detail']}")
        nos = [r["no"] for r in f["rows"][:10]]
        if nos:
            print(f"   {'、'.join(str(n) for n in nos)}{' …' if f['n_rows'] > len(nos) else ''}")
    return 0
