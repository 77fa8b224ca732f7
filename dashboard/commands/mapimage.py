from dashboard.commands import add_db_argument

HELP = "draw the grid map to a PNG or a self-contained HTML file (offline); or measure its speed"


def add_arguments(p):
    add_db_argument(p)
    p.add_argument("--period", default=None,
                   help="2025Q3, 2025-03, 2025 or 2025-01-01..2025-03-31 (default: the last full quarter)")
    p.add_argument("--metric", default="resolution_rate", help="metric key (default resolution_rate)")
    p.add_argument("--level", choices=("village", "grid"), default=None,
                   help="coloured layer (default: village; grid for --bench)")
    p.add_argument("--classes", choices=("quantile", "jenks"), default="quantile")
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.add_argument("--out", default=None, help="file to write: .png or .html")
    p.add_argument("--bench", type=int, metavar="N", default=None,
                   help="measure payload and draw time of a synthetic county of N grids (JSON)")


def _period(text: str | None, conn):
    from datetime import date

    from dashboard import periods
    from dashboard.queries import summary
    if not text:
        return periods.latest_complete("quarter", summary.data_range(conn)[1], date.today())
    if "Q" in text.upper():
        return periods.parse("quarter", text)
    if ".." in text:
        return periods.parse("custom", text)
    return periods.parse("month" if "-" in text else "year", text)


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from dashboard import maps, settings
    if args.bench:
        print(json.dumps(maps.bench_payload(args.bench, level=args.level or "grid", metric_key=args.metric)))
        return 0
    if not args.out:
        print("--out FILE.png or FILE.html is required (or --bench N)", file=sys.stderr)
        return 2
    from dashboard.db.engine import get_engine
    engine = get_engine(args.db or settings.database_url())
    with engine.connect() as conn:
        period = _period(args.period, conn)
        kw = dict(metric_key=args.metric, level=args.level or "village", lang=args.lang,
                  classes=args.classes)
        out = Path(args.out)
        if out.suffix.lower() == ".html":
            out.write_text(maps.map_html_selfcontained(conn, period, **kw), encoding="utf-8")
        else:
            png = maps.map_png(conn, period, title=period.label(args.lang), **kw)
            if png is None:
                print("no Chromium (set DASHBOARD_CHROMIUM)", file=sys.stderr)
                return 1
            out.write_bytes(png)
    print(out)
    return 0
