"""Command line for county IT staff and scripts.

    python -m loaders import FILE [--kind KIND] [--village NAME] [--township NAME] [--db URL] [--dry-run] [--json]
    python -m loaders template KIND [-o FILE] [--lang zh|en]
    python -m loaders batches [--db URL] [--json]
    python -m loaders undo BATCH_ID [--db URL] [--user NAME] [--json]
    python -m loaders zero --kind KIND --village NAME --month YYYY-MM [--db URL] [--user NAME] [--json]
    python -m loaders docs          (regenerates docs/UPLOAD_TEMPLATES.md's tables from spec.py)

A file with rows in a month the village filed a zero report for is refused (exit 1) with the
reason; ``import --withdraw-zero`` says the zero report was wrong and withdraws it in the same
batch (undoing the batch brings it back).

Exit status: 0 written (or a clean dry run), 1 the file (or the undo, or the zero report) was refused,
2 a usage error (bad arguments, missing file, unknown --village, unreachable database).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from loaders.spec import KINDS, LEDGER_KINDS

USAGE, REFUSED, OK = 2, 1, 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own exit status for usage errors is 2 as well
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(USAGE)


def _lang() -> str:
    from dashboard import settings
    try:
        return settings.get("DASHBOARD_LANG")
    except ValueError:
        return "zh"


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m loaders", description="clerk file intake (数据上传)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    i = sub.add_parser("import", help="check and import one file")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--kind", choices=KINDS, help="detected from the headers when omitted")
    i.add_argument("--village", metavar="NAME", help="village (name or code) of a one-village ledger")
    i.add_argument("--township", metavar="NAME",
                   help="township (乡镇/街道, name or code) of a file without a 乡镇（街道） column; "
                        "villages are matched within it. A villages registry for a new township "
                        "creates it. May be left out while the database holds one township")
    i.add_argument("--db", metavar="URL", help="database URL (default: the app's database)")
    i.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.add_argument("--sheet", metavar="NAME", action="append",
                   help="workbook sheet to read (repeatable; default: every sheet of the kind)")
    i.add_argument("--crs", choices=("wgs84", "gcj02", "bd09"), default="wgs84",
                   help="coordinate system of the file's coordinates (converted to WGS-84)")
    i.add_argument("--remove-missing", action="store_true",
                   help="a one-village ledger: delete that village's stored rows dated within the "
                        "file's span that the file no longer holds (default: keep them)")
    i.add_argument("--accept-reused", action="store_true",
                   help="allow updates that change a record's date or category (otherwise refused "
                        "as probably a reused number)")
    i.add_argument("--withdraw-zero", action="store_true",
                   help="rows for a month the village filed a zero report for: the zero report was "
                        "wrong, withdraw it (otherwise the file is refused)")
    i.add_argument("--user", default=None,
                   help="user name recorded with the batch and the audit log (default: cli:<login>)")
    i.add_argument("--lang", choices=("zh", "en"), default=None, help="message language")
    i.add_argument("--no-refresh", action="store_true",
                   help="after a bulk load, leave the pre-aggregates stale (rebuild later with "
                        "python -m dashboard aggregates) instead of rebuilding them at once")
    t = sub.add_parser("template", help="write an .xlsx template")
    t.add_argument("kind", choices=KINDS)
    t.add_argument("-o", "--output", metavar="FILE", help="default: template_<kind>.xlsx")
    t.add_argument("--lang", choices=("zh", "en"), default=None)
    sub.add_parser("docs", help="regenerate the alias and enumeration tables of docs/UPLOAD_TEMPLATES.md")
    b = sub.add_parser("batches", help="list upload batches")
    b.add_argument("--db", metavar="URL")
    b.add_argument("--json", action="store_true")
    b.add_argument("--limit", type=int, default=50)
    u = sub.add_parser("undo", help="undo one upload batch")
    u.add_argument("batch_id", type=int)
    u.add_argument("--db", metavar="URL")
    u.add_argument("--user", default=None, help="recorded in the audit log (default: cli:<login>)")
    u.add_argument("--json", action="store_true")
    u.add_argument("--lang", choices=("zh", "en"), default=None)
    z = sub.add_parser("zero", help="file a zero report (零报告: nothing new this month)")
    z.add_argument("--kind", choices=LEDGER_KINDS, required=True)
    z.add_argument("--village", metavar="NAME", required=True, help="village name or 12-digit code")
    z.add_argument("--month", metavar="YYYY-MM", required=True)
    z.add_argument("--db", metavar="URL")
    z.add_argument("--user", default=None, help="recorded with the batch (default: cli:<login>)")
    z.add_argument("--json", action="store_true")
    z.add_argument("--lang", choices=("zh", "en"), default=None)
    return p


def _engine(url):
    from dashboard.db import migrate
    return migrate(url)


def cmd_import(a) -> int:
    import loaders
    from dashboard.i18n import t
    lang = a.lang or _lang()
    path = Path(a.file)
    if not path.is_file():
        print(f"python -m loaders: error: no such file: {a.file}", file=sys.stderr)
        return USAGE
    try:
        engine = _engine(a.db)
    except Exception as e:  # a bad URL or an unreachable server is a usage problem
        print(f"python -m loaders: error: database: {type(e).__name__}: {e}", file=sys.stderr)
        return USAGE
    from dashboard import uploads
    ctx = loaders.ImportContext(path.read_bytes(), path.name, kind=a.kind, village=a.village,
                                username=a.user or uploads.os_user(), dry_run=a.dry_run, lang=lang,
                                sheets=a.sheet, coord_system=a.crs,
                                remove_missing=a.remove_missing, accept_reused=a.accept_reused,
                                withdraw_zero=a.withdraw_zero,
                                township=a.township)
    res = uploads.run_import(engine, ctx, refresh=False)
    if res.refused in ("unknown_village_param", "unknown_township"):
        opt = "--township" if res.refused == "unknown_township" else "--village"
        msg = res.errors[0]["message"] if res.errors else ""
        if a.json:
            print(json.dumps(res.summary(), ensure_ascii=False, default=str))
        print(f"python -m loaders: error: {opt}: {msg}", file=sys.stderr)
        return USAGE
    rebuilt = None
    if res.written and not a.no_refresh:
        rebuilt = uploads.rebuild_stale(engine)
    if a.json:
        print(json.dumps({**res.summary(), "aggregates_rebuilt_s": None if rebuilt is None else round(rebuilt, 2)},
                         ensure_ascii=False, default=str))
    else:
        _print_human(res, lang, t)
        if rebuilt is not None:
            print(t("upload.aggregates_rebuilt", lang, seconds=f"{rebuilt:.1f}"))
    return OK if res.ok else REFUSED


def _print_human(res, lang, t):
    kind = t(f"loader.kind.{res.kind}", lang) if res.kind else "?"
    if res.header_row:
        print(t("upload.detected", lang, kind=kind, encoding=res.encoding or "-",
                sheet=res.sheet or "-", row=res.header_row))
    for n in res.notes:
        print(n)
    _print_diff(res, lang, t)
    if res.ok:
        if res.dry_run:
            print(t("upload.ready", lang, rows=res.rows_read, inserted=res.inserted,
                    updated=res.updated, unchanged=res.unchanged))
        else:
            print(t("upload.imported", lang, batch=res.batch_id, inserted=res.inserted,
                    updated=res.updated, unchanged=res.unchanged))
        return
    if res.refused:
        print(t("upload.refused", lang, message=res.errors[0]["message"] if res.errors else ""))
    else:
        print(t("upload.errors", lang, n=res.total_errors, rows=res.rejected))
    for e in res.errors:
        where = f"{e['row']}" if e["row"] is not None else "-"
        col = f" [{e['column']}]" if e["column"] else ""
        print(f"  {where}{col}: {e['message']}")


def _print_diff(res, lang, t):
    d = res.diff
    if not d:
        return
    for r in d["changed"]:
        cells = "; ".join(f"{f}: {a if a is not None else ''} → {b if b is not None else ''}"
                          for f, (a, b) in r["cells"].items())
        print(t("upload.diff_changed_line", lang, row=r["row"], key=r["key"], cells=cells))
    for r in d["reused"]:
        print(t("upload.diff_reused_line", lang, row=r["row"], key=r["key"], fields="、".join(r["fields"])))
    if d["missing_total"]:
        print(t("upload.diff_missing", lang, n=d["missing_total"], start=d["span"][0], end=d["span"][1]))
        for r in d["missing"]:
            print(f"  {r['date']}  {r['key']}  {r['what']}")
        if not res.deleted:
            print(t("upload.diff_missing_cli", lang))


def cmd_template(a) -> int:
    import loaders
    out = Path(a.output or f"template_{a.kind}.xlsx")
    out.write_bytes(loaders.template_xlsx(a.kind, a.lang or _lang()))
    print(out)
    return OK


def cmd_docs(a) -> int:
    from loaders import docs
    print(f"{docs.DOC}: {'rewritten' if docs.write() else 'up to date'}")
    return OK


def cmd_batches(a) -> int:
    import loaders
    try:
        engine = _engine(a.db)
    except Exception as e:
        print(f"python -m loaders: error: database: {e}", file=sys.stderr)
        return USAGE
    with engine.connect() as conn:
        rows = loaders.list_batches(conn, limit=a.limit)
    if a.json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
    else:
        for r in rows:
            print(f"{r['id']:>5}  {r['created_at']:%Y-%m-%d %H:%M}  {r['kind']:<10} {r['state']:<7} "
                  f"+{r['inserted']} ~{r['updated']} ={r['unchanged']}  {r['village'] or '-'}  "
                  f"{r['username']}  {r['file_name']}")
    return OK


def cmd_undo(a) -> int:
    import loaders
    lang = a.lang or _lang()
    try:
        engine = _engine(a.db)
    except Exception as e:
        print(f"python -m loaders: error: database: {e}", file=sys.stderr)
        return USAGE
    from dashboard import uploads
    try:
        out = uploads.undo(engine, a.batch_id, username=a.user or uploads.os_user(), lang=lang)
    except loaders.Refusal as e:
        msg = e.problems[0].message(lang)
        print(json.dumps({"ok": False, "message": msg}, ensure_ascii=False) if a.json else msg)
        return REFUSED
    if a.json:
        print(json.dumps({"ok": True, **out}, ensure_ascii=False))
    else:
        from dashboard.i18n import t
        print(t("upload.undone", lang, batch=out["batch_id"], deleted=out["deleted"],
                restored=out["restored"]))
    return OK


def cmd_zero(a) -> int:
    import loaders
    from dashboard.i18n import t
    from loaders.zero import month_label
    lang = a.lang or _lang()
    try:
        engine = _engine(a.db)
    except Exception as e:
        print(f"python -m loaders: error: database: {type(e).__name__}: {e}", file=sys.stderr)
        return USAGE
    from dashboard import uploads
    try:
        out = uploads.file_zero_report(engine, a.kind, a.village, a.month,
                                       username=a.user or uploads.os_user())
    except loaders.Refusal as e:
        msg = e.problems[0].message(lang)
        if a.json:
            print(json.dumps({"ok": False, "refused": e.code, "message": msg}, ensure_ascii=False))
        if e.code in ("unknown_village_param", "zero_bad_month"):
            print(f"python -m loaders: error: {msg}", file=sys.stderr)
            return USAGE
        if not a.json:
            print(msg)
        return REFUSED
    if a.json:
        print(json.dumps({"ok": True, **out}, ensure_ascii=False))
    else:
        print(t("zero.done", lang, village=out["village"], month=month_label(out["month"], lang),
                kind=t(f"loader.kind.{out['kind']}", lang), batch=out["batch_id"]))
    return OK


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    return {"import": cmd_import, "template": cmd_template, "batches": cmd_batches,
            "undo": cmd_undo, "docs": cmd_docs, "zero": cmd_zero}[a.command](a)


if __name__ == "__main__":
    sys.exit(main())
