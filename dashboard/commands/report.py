"""``python -m dashboard report``: the meeting report as PPTX, PDF or HTML, for scheduled use."""
from dashboard.commands import add_db_argument

HELP = "write the meeting report (会议汇报) for a period as PPTX, PDF, HTML or a one-page A4 PDF"
FORMATS = ("pptx", "pdf", "html", "onepage")   # onepage: 一页纸, one A4 page (PDF)


def add_arguments(p):
    add_db_argument(p)
    p.add_argument("--format", choices=FORMATS,
                   help="output format; onepage is the one-page A4 summary PDF (default: from --out's suffix)")
    p.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD", help="first day of the period")
    p.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD", help="last day of the period")
    p.add_argument("--village", action="extend", nargs="+", default=[], metavar="NAME",
                   help="only these villages/communities (repeatable; default: all)")
    p.add_argument("--out", required=True, metavar="FILE", help="file to write")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="report language (default zh)")
    p.add_argument("--orientation", choices=("landscape", "portrait"), default="landscape",
                   help="PDF page orientation (default landscape)")
    p.add_argument("--preparer", default="", help="制表人 printed in the PDF header block")
    p.add_argument("--unit", default="", help="填报单位 (default: <township>人民政府)")
    p.add_argument("--target", type=float, default=None,
                   help="target resolution rate, e.g. 0.9 (default: DASHBOARD_TARGET_RATE)")
    p.add_argument("--no-map", action="store_true", help="leave the map out (no Chromium needed)")


def period_of(start, end):
    """The period [start, end], recognised as a calendar month, quarter or year when it is one
    (so 环比 compares with the previous month/quarter/year and labels read 2025年第3季度)."""
    from dashboard import periods
    for make in (lambda: periods.month(start.year, start.month),
                 lambda: periods.quarter(start.year, (start.month - 1) // 3 + 1),
                 lambda: periods.year(start.year)):
        p = make()
        if (p.start, p.end) == (start, end):
            return p
    return periods.Period(start, end, "custom")


def run(args) -> int:
    import sys
    from datetime import date
    from pathlib import Path

    from dashboard import report, settings
    from dashboard.db import migrate
    from dashboard.queries import summary

    fmt_ = args.format or Path(args.out).suffix.lower().lstrip(".")
    if fmt_ not in FORMATS:
        print(f"unknown format {fmt_!r}: use --format pptx, pdf, html or onepage", file=sys.stderr)
        return 2
    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError as exc:
        print(f"dates must be YYYY-MM-DD: {exc}", file=sys.stderr)
        return 2
    if end < start:
        print("--to is before --from", file=sys.stderr)
        return 2
    period = period_of(start, end)
    target = args.target if args.target is not None else settings.get("DASHBOARD_TARGET_RATE")
    engine = migrate(args.db)
    with engine.connect() as conn:
        ids = None
        if args.village:
            by_name = {v["name"]: v["id"] for v in summary.villages(conn)}
            unknown = [n for n in args.village if n not in by_name]
            if unknown:
                print(f"unknown village(s): {', '.join(unknown)}; known: {', '.join(by_name)}", file=sys.stderr)
                return 2
            ids = tuple(sorted(by_name[n] for n in args.village))
        deck = report.build_deck(conn, period, ids, args.lang, target, preparer=args.preparer,
                                 unit=args.unit, with_map=not args.no_map)
    if fmt_ == "pptx":
        data = report.to_pptx(deck)
    elif fmt_ in ("pdf", "onepage"):
        data = report.to_pdf(deck, args.orientation) if fmt_ == "pdf" else report.to_onepage(deck)
        from dashboard.i18n import t
        from dashboard.report.pdf_out import pdf_font
        font = pdf_font(deck)
        if not font.embedded:  # the PDF still reads (the reader's 宋体); say what to install
            print(t("meeting.pdf_font_missing", args.lang, chars=font.missing[:20]), file=sys.stderr)
    else:
        data = report.to_html(deck).encode("utf-8")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    m = deck.slide("map").map
    print(f"wrote {out} ({len(data):,} bytes, {fmt_}, {deck.period_label}, {deck.filters})")
    if m is not None and m.png is None and fmt_ != "html":
        print(m.note)
    return 0
