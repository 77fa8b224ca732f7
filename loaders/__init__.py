"""Clerk file intake (数据上传): read → normalise → validate → ingest.

Kinds: ``villages`` (registry), ``grids`` (grid list or boundaries), ``disputes``,
``volunteers``, ``visits``, ``suggestions`` (one row per suggestion, to its reply).
Formats: CSV (UTF-8, UTF-8 BOM, UTF-16, GBK/GB18030, detected), .xlsx (first sheet with data
or a named sheet), GeoJSON and zipped Shapefiles for boundaries. Header aliases and rules: docs/UPLOAD_TEMPLATES.md.

Public API (everything else is internal)::

    import_file(engine, ctx: ImportContext) -> ImportResult
    import_file(engine, data: bytes, file_name: str, **fields) -> ImportResult
        ImportContext(data, file_name, kind=None, village=None, username="system",
                      dry_run=False, lang="zh", allowed_village_ids=None, sheet=None,
                      mapping=None, coord_system="wgs84", preview_rows=20, township=None)

        One file, one transaction. Any problem (validation or refusal) writes nothing
        and comes back in ``result.errors`` as ``{row, column, value, message, code}``;
        ``row`` is the spreadsheet row number the clerk sees (title rows and header
        counted). ``kind=None`` detects the kind from the headers. ``village`` (name or
        12-digit code) fills a missing village column and must match a present one.
        ``allowed_village_ids=None`` is unrestricted; otherwise a row naming any other
        village is refused. ``mapping`` maps a header as written to a field name ("" to
        ignore the column) and wins over the alias table. ``coord_system`` gcj02/bd09
        converts boundary/point coordinates to WGS-84. ``township`` (name or code) places a
        file without a 乡镇（街道） column: its villages are matched within that township (names
        repeat across townships); a villages registry for a township not yet known creates it
        (only without ``allowed_village_ids``), any other kind is refused (``unknown_township``,
        the message lists the known ones). Never raises for bad input;
        raises only for programming errors (bad ``kind`` value raises ValueError).

    undo_batch(engine, batch_id: int, username: str = "system",
               allowed_village_ids: set[int] | None = None) -> dict
        Restore exactly what a batch changed (delete its inserts, put back the previous
        values of its updates). Refused (raises loaders.Refusal, a dashboard UserError)
        when a later applied batch touched the same rows, when rows outside the batch
        still use a village/grid it inserted, or for a restricted user's foreign batch.

    list_batches(conn, village_ids: set[int] | None = None, limit: int = 50,
                 kind: str | None = None) -> list[dict]
        Upload history, newest first (id, kind, file_name, sha256, village_id, village,
        username, created_at, rows_read, inserted, updated, unchanged, state).

    template_xlsx(kind: str, lang: str = "zh") -> bytes
        A template workbook: headers, an example row, drop-down lists for enumerations,
        and the rules on a second sheet.

    fields_for(kind, lang) -> list[dict]   field names, labels and aliases (manual mapping)
    KINDS                                   ("villages", "grids", "disputes", "volunteers", "visits",
                                             "suggestions")

Writes: one transaction per file (``run_write``: BEGIN IMMEDIATE on SQLite), bulk rows through
the DBAPI (above ``loaders.ingest.BULK_ROWS`` rows, SQLite: rows sorted in unique-key order and
bound many per statement straight into the table, its secondary indexes and the aggregates'
dirty trigger dropped and rebuilt inside the transaction; PostgreSQL: COPY), ``batch_change``
rows for exact undo, ``bump_version`` and, up to ``loaders.ingest.REFRESH_MAX_ROWS`` written
ledger rows, a refresh of the pre-aggregates for exactly the villages and months touched (larger
loads leave them marked dirty for ``python -m dashboard aggregates``; metrics read the raw rows
meanwhile, and batch_change lists their updates only: undo finds their inserts by batch_id).

Role checks, the audit log and the rebuild of stale aggregates after a write are the upload
service's (``dashboard.uploads``), which the page and the command line call.

Command line: ``python -m loaders import FILE [--kind] [--village] [--db] [--dry-run] [--json]``
(exit 0 written or clean dry run, 1 refused, 2 usage error), plus ``template``, ``undo``,
``batches`` and ``zero`` (a zero report, ``loaders.zero``).

Zero reports (零报告): a ledger file with rows in a month its village filed a zero report for is
refused (``zero_contradicted``, the first row of that month named) unless
``ImportContext.withdraw_zero``; the preview's ``diff["zero"]`` lists them for the page's
confirmation.
"""
from __future__ import annotations

import gc
import hashlib
import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from loaders.problems import Problem, Refusal, ValidationFailed
from loaders.spec import KINDS

__all__ = ["ImportContext", "ImportResult", "KINDS", "Refusal", "fields_for", "import_file", "list_batches",
           "template_xlsx", "undo_batch"]

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    kind: str | None
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)
    batch_id: int | None = None
    # preview information
    file_name: str = ""
    sha256: str = ""
    format: str = ""
    encoding: str = ""
    sheet: str = ""
    sheets: list[str] = field(default_factory=list)
    sheets_read: list[str] = field(default_factory=list)     # workbook sheets imported
    sheets_skipped: list[dict] = field(default_factory=list)  # {sheet, reason, message}
    header_row: int | None = None
    columns: list[dict] = field(default_factory=list)   # {index, column, field, label, how}
    preview: list[dict] = field(default_factory=list)   # first rows as they will be stored
    notes: list[str] = field(default_factory=list)      # messages (already translated)
    village: str | None = None                         # the village that filled the column
    dry_run: bool = False
    refused: str = ""                                  # reason code when refused as a whole
    total_errors: int = 0                              # may exceed len(errors) (capped list)
    deleted: int = 0                                   # missing rows removed (remove_missing)
    diff: dict | None = None                           # ledgers: ingest.ledger_diff, labelled
    categories: list[dict] = field(default_factory=list)  # disputes: {value, rows} outside the vocabulary
    township_created: str | None = None                # a villages registry created this township

    @property
    def ok(self) -> bool:
        return not self.errors and not self.refused

    @property
    def written(self) -> bool:
        return self.ok and self.batch_id is not None

    def summary(self) -> dict:
        """The command line's --json object."""
        return {"kind": self.kind, "rows_read": self.rows_read, "inserted": self.inserted,
                "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
                "errors": [{k: e[k] for k in ("sheet", "row", "column", "value", "message")
                            if k in e} for e in self.errors],
                "deleted": self.deleted,
                "missing": (self.diff or {}).get("missing_total", 0),
                "reused": (self.diff or {}).get("reused_total", 0),
                "zero_reports": [{k: z[k] for k in ("village", "month", "rows")}
                                 for z in (self.diff or {}).get("zero", [])],
                "township_created": self.township_created,
                "batch_id": self.batch_id, "dry_run": self.dry_run, "file_name": self.file_name,
                "encoding": self.encoding, "sheet": self.sheet, "header_row": self.header_row,
                "sheets_read": self.sheets_read,
                "sheets_skipped": [{"sheet": s["sheet"], "reason": s["message"]}
                                   for s in self.sheets_skipped]}

    def as_dict(self) -> dict:
        return asdict(self)


def fields_for(kind: str, lang: str = "zh") -> list[dict]:
    from dashboard.i18n import t
    from loaders import spec
    return [{"field": f.name, "label": t(f"loader.field.{kind}.{f.name}", lang),
             "aliases": list(f.aliases), "required": f.required, "type": f.type}
            for f in spec.fields(kind)]


@dataclass
class ImportContext:
    """Everything one import is asked to do: the file, the choices made on the page (or the
    command line) and who asks. ``import_file``'s keyword arguments are these fields."""
    data: bytes
    file_name: str
    kind: str | None = None
    village: str | None = None
    username: str = "system"
    dry_run: bool = False
    lang: str = "zh"
    allowed_village_ids: set[int] | None = None
    sheet: str | None = None       # one sheet (the page); sheets: several (the CLI)
    sheets: list[str] | None = None
    mapping: dict[str, str] | None = None
    coord_system: str = "wgs84"
    preview_rows: int = 20
    remove_missing: bool = False   # delete the village's rows in the file's span it no longer holds
    accept_reused: bool = False    # allow updates flagged "probably a reused number"
    category_map: dict[str, str] | None = None  # disputes: {category as written: vocabulary name}
    withdraw_zero: bool = False    # rows for a zero-reported month: the zero report was wrong
    # the township (name or code) a file without a 乡镇（街道） column belongs to: villages are
    # matched within it; a villages registry for an unknown one creates it (unrestricted only)
    township: str | None = None

    def __post_init__(self):
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        from loaders.spec import COORD_SYSTEMS  # not loaders.geo: that imports geopandas
        if self.coord_system not in COORD_SYSTEMS:
            raise ValueError(f"coord_system must be one of {COORD_SYSTEMS}")
        self.data = bytes(self.data or b"")
        self.file_name = self.file_name or ""
        if self.allowed_village_ids is not None:
            self.allowed_village_ids = {int(v) for v in self.allowed_village_ids}


def import_file(engine, data, file_name: str | None = None, **options) -> ImportResult:
    """``import_file(engine, ctx)`` with an ImportContext, or ``import_file(engine, data,
    file_name, **fields)`` (the context's fields as keywords)."""
    ctx = data if isinstance(data, ImportContext) else ImportContext(data, file_name, **options)
    res = ImportResult(kind=ctx.kind, file_name=ctx.file_name, dry_run=ctx.dry_run)
    holder: dict = {}
    with _gc_paused(len(ctx.data) > GC_PAUSE_BYTES), _sha256(ctx.data) as digest:
        holder["sha256"] = digest
        _import(engine, ctx, res, holder)
    res.sha256 = digest()
    return res


@contextmanager
def _sha256(data: bytes):
    """The file's SHA-256, hashed on another thread while the file is read (hashlib lets go
    of the GIL on big buffers); yields a function that waits for it."""
    if len(data) < GC_PAUSE_BYTES:
        h = hashlib.sha256(data).hexdigest()
        yield lambda: h
        return
    import threading
    out: list[str] = []
    th = threading.Thread(target=lambda: out.append(hashlib.sha256(data).hexdigest()),
                          name="loaders-sha256", daemon=True)
    th.start()

    def result() -> str:
        th.join()
        return out[0]

    try:
        yield result
    finally:
        th.join()


# The cyclic garbage collector walks every live object each time allocations pile up; a big
# import allocates millions of short-lived ones (none in cycles) and would pay for those walks
# again and again. Paused for files above this size, and switched back on after.
GC_PAUSE_BYTES = 4 * 1024 * 1024


@contextmanager
def _gc_paused(pause: bool):
    was = gc.isenabled()
    if pause and was:
        gc.disable()
    try:
        yield
    finally:
        if pause and was:
            gc.enable()


def _import(engine, ctx: ImportContext, res: ImportResult, holder: dict) -> None:
    from sqlalchemy import exc as sa_exc

    from dashboard.db.engine import run_write
    from dashboard.i18n import t
    from loaders import ingest, read as R, normalise as N
    from loaders.validate import Registry, prepare
    data, file_name, kind, village, username = ctx.data, ctx.file_name, ctx.kind, ctx.village, \
        ctx.username
    dry_run, lang, allowed, sheet, mapping = ctx.dry_run, ctx.lang, ctx.allowed_village_ids, \
        ctx.sheet, ctx.mapping
    coord_system, preview_rows = ctx.coord_system, ctx.preview_rows
    try:
        chosen = list(ctx.sheets or ([sheet] if sheet else []))
        raw = R.read(data, file_name or "", sheets=chosen or None, kind=kind, mapping=mapping)
        res.format, res.encoding, res.sheet, res.sheets = raw.fmt, raw.encoding, raw.sheet, raw.sheets
        holder["raw"] = raw
        res.sheets_read = list(raw.sheets_read)
        res.sheets_skipped = R.skipped_messages(raw.sheets_skipped, lang)
        if len(raw.sheets) > 1:
            holder["notes"] = R.sheet_notes(res.sheets_read, res.sheets_skipped, lang)
        res.header_row = raw.header_row or None
        k = N.detect_kind(raw.headers, kind) if not (mapping and kind) else kind
        if raw.geometry is not None and k not in ("villages", "grids"):
            raise Refusal("geo_kind")
        res.kind = k
        raw = _drop_example(raw, k, mapping, holder, lang)

        def work(conn):
            reg = Registry.load(conn)
            tw = _chosen_township(reg, ctx.township, k, allowed)
            if tw is not None:
                reg = reg.within(tw)
                holder["township"] = tw
            fill = None
            if village:
                fill, hint = reg.find_village(village)
                if fill is None:
                    raise Refusal("unknown_village_param", value=village, suggestion=hint)
                if allowed is not None and fill not in allowed:
                    raise Refusal("not_allowed_village", value=village)
                holder["village"] = reg.village_names().get(fill)
                named = _title_village(raw, reg) if k in spec_ledgers_and_grids() else None
                if named is not None and named != fill:  # 建设村's ledger chosen as 红旗村's
                    raise Refusal("title_other_village", value=holder["village"],
                                  title=reg.village_names().get(named))
            elif k in spec_ledgers_and_grids():
                fill = _village_from_title(raw, reg, k, mapping, allowed)
                if fill is not None:
                    holder["village"] = reg.village_names().get(fill)
                    holder.setdefault("notes", []).append(t("loader.note.village_from_title", lang,
                                                            village=holder["village"]))
            prep = prepare(raw, k, reg, fill_village=fill, allowed=allowed, manual=mapping,
                           lang=lang, coord_system=coord_system, category_map=ctx.category_map)
            holder["prep"], holder["reg"] = prep, reg
            if prep.problems:
                raise ValidationFailed(prep.problems, prep.rejected, prep.total_problems)
            vids = set(int(v) for v in prep.frame["village_id"].dropna().unique()) \
                if "village_id" in prep.frame else set()
            bvid = fill if fill is not None else (next(iter(vids)) if len(vids) == 1 else None)
            # the township the file was placed in: named, or its villages', or the only one
            btid = (tw or {}).get("id") or reg.township_of(vids | ({fill} if fill else set())) or \
                (reg.townships[0]["id"] if len(reg.townships) == 1 else None)
            return ingest.apply(conn, prep, reg, kind=k, dry_run=dry_run, batch=dict(
                file_name=file_name or "", sha256=holder["sha256"](), village_id=bvid,
                township_id=btid, username=username, rows_read=prep.rows_read),
                remove_missing=ctx.remove_missing, accept_reused=ctx.accept_reused,
                withdraw_zero=ctx.withdraw_zero)

        if dry_run:
            with engine.connect() as conn:
                try:
                    counts = work(conn)
                finally:
                    conn.rollback()
        else:
            counts = run_write(engine, work)
        res.inserted, res.updated, res.unchanged = counts["inserted"], counts["updated"], \
            counts["unchanged"]
        res.batch_id = counts["batch_id"]
        res.deleted = counts.get("deleted", 0)
        if counts.get("diff") is not None:
            res.diff = _labelled_diff(counts["diff"], k, lang)
    except ValidationFailed as e:
        res.errors = [p.as_dict(lang) for p in e.problems]
        res.rejected = e.rejected
        res.total_errors = e.total
    except Refusal as e:
        res.refused = e.code
        res.errors = [p.as_dict(lang) for p in e.problems]
        res.total_errors = len(res.errors)
    except sa_exc.IntegrityError as e:  # a constraint the checks above did not foresee
        log.warning("import of %s hit a database constraint: %s", file_name, e.orig)
        res.refused = "db_conflict"
        res.errors = [Problem(None, "", "", "db_conflict",
                              {"detail": str(e.orig).splitlines()[0][:200]}).as_dict(lang)]
        res.total_errors = 1
    except Exception as e:  # never a traceback for the clerk; the log keeps the detail
        log.exception("import of %s failed", file_name)
        res.refused = "internal"
        res.errors = [Problem(None, "", "", "internal", {"detail": type(e).__name__}).as_dict(lang)]
        res.total_errors = 1
    prep = holder.get("prep")
    if prep is not None:
        res.rows_read = prep.rows_read
        res.columns = prep.columns
        res.categories = list(prep.categories)
        try:
            res.preview = _preview(prep, holder.get("reg"), lang, preview_rows)
        except Exception:  # a preview must never turn a structured answer into a traceback
            log.exception("preview of %s failed", file_name)
            res.preview = []
        holder.setdefault("notes", []).extend(t(f"loader.note.{n}", lang) for n in prep.notes)
    tw = holder.get("township")
    if tw is not None and tw.get("id") is None and not res.errors:
        res.township_created = tw["name"]
        holder.setdefault("notes", []).append(t("loader.note.township_created", lang, name=tw["name"]))
    res.notes = holder.get("notes", [])
    res.village = holder.get("village")
    raw = holder.get("raw")
    if raw is not None and raw.multi_sheet:
        R.name_sheets(res, raw.sheets_read, lang)
    if res.errors:
        res.inserted = res.updated = res.unchanged = res.deleted = 0
        res.batch_id = None
        res.diff = None


def _chosen_township(reg, value, kind, allowed) -> dict | None:
    """The township the import was told to place its file in (None: not told; the file's own
    乡镇（街道） column or code, or the one township, decides). An unknown township is refused
    with the list of known ones, except for a villages registry imported without a village
    restriction (the county's administrator or the command line), which creates it."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    tw = reg.find_township(value)
    if tw is not None:
        return tw
    known = "、".join(str(x["name"]) for x in reg.townships) or "—"
    if kind != "villages":
        raise Refusal("unknown_township", value=value, known=known)
    if allowed is not None:
        raise Refusal("township_admin_only", value=value, known=known)
    return {"id": None, "code": None, "name": value[:100]}


def _labelled_diff(diff: dict, kind: str, lang: str) -> dict:
    """The ingest diff with field labels for the preview (old → new per cell)."""
    from dashboard.i18n import t
    out = {k: v for k, v in diff.items() if k != "missing_ids"}

    from loaders import spec
    enums = {f.name: f.enum for f in spec.fields(kind) if f.type == "enum"}

    def lab(f):
        return t(f"loader.field.{kind}.{f}", lang)

    def val(f, v):  # an enumeration's stored code as the clerk writes it
        return t(f"enum.{enums[f]}.{v}", lang) if f in enums and v is not None else v

    def cells(r):
        return {lab(f): [val(f, a), val(f, b)] for f, (a, b) in r["cells"].items()}
    out["changed"] = [{**r, "cells": cells(r)} for r in diff["changed"]]
    out["reused"] = [{**r, "cells": cells(r), "fields": [lab(f) for f in r["fields"]]}
                     for r in diff["reused"]]
    return out


def _drop_example(raw, kind, mapping, holder, lang):
    """The template's example row (HQ-2024-001, 李国强...) is never data: dropped, with a note."""
    from dashboard.i18n import t
    from loaders import read as R
    from loaders.template import example_rows
    if raw.geometry is not None:
        return raw
    ex = example_rows(raw, kind, mapping)
    if not ex.any():
        return raw
    for r in raw.rownum[ex][:3]:
        si, row = R.split_row(int(r))
        where = f"{raw.sheets_read[si]} {row}" if raw.multi_sheet else str(row)
        holder.setdefault("notes", []).append(t("loader.note.example_row", lang, row=where))
    keep = ~ex
    raw.frame = raw.frame[keep].reset_index(drop=True)
    raw.rownum = raw.rownum[keep]
    return raw


def spec_ledgers_and_grids() -> tuple[str, ...]:
    from loaders import spec
    return spec.LEDGER_KINDS + ("grids",)


def _village_from_title(raw, reg, kind, mapping, allowed) -> int | None:
    """A one-village ledger often names its village only in the title row."""
    from loaders import normalise as N
    m, _ = N.match_headers(raw.headers, kind, mapping)
    if "village" in m:
        return None
    vid = _title_village(raw, reg)
    if vid is None:
        return None
    if allowed is not None and vid not in allowed:
        return None
    return vid


def _title_village(raw, reg) -> int | None:
    """The one village the title row names (the longest name wins: 红旗村 inside 新红旗村)."""
    if not raw.title:
        return None
    hits = [(int(i), n) for i, n in zip(reg.villages["id"], reg.villages["name"])
            if n and n in raw.title]
    hits = [h for h in hits if not any(h[1] != o[1] and h[1] in o[1] for o in hits)]
    return hits[0][0] if len(hits) == 1 else None


def _preview(prep, reg, lang: str, n: int) -> list[dict]:
    from dashboard.i18n import t
    from loaders import spec
    df = prep.frame.head(n)
    if not len(df):
        return []
    names = reg.village_names() if reg is not None else {}
    gnames = dict(zip(reg.grids["id"].astype(int), reg.grids["name"])) if reg is not None else {}
    out = []
    flds = [f for f in spec.fields(prep.kind)]
    for rec in df.to_dict("records"):
        row = {t("upload.preview_row", lang): int(rec["_row"])}
        for f in flds:
            lab = t(f"loader.field.{prep.kind}.{f.name}", lang)
            if f.type == "village":
                v = rec.get("village_id")
                row[lab] = names.get(int(v), "") if v is not None and not pd.isna(v) else ""
            elif f.type == "grid":
                if "grid_id" not in rec:
                    continue
                v = rec.get("grid_id")
                row[lab] = gnames.get(int(v), "") if v is not None and not pd.isna(v) else ""
            elif f.name in rec:
                v = rec[f.name]
                if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
                    row[lab] = ""
                elif f.type == "enum":
                    row[lab] = t(f"enum.{f.enum}.{v}", lang)
                elif f.type == "date":
                    row[lab] = pd.Timestamp(v).date().isoformat()
                elif f.type == "int":
                    row[lab] = str(int(v))
                else:
                    row[lab] = str(v)
        out.append(row)
    return out


def undo_batch(engine, batch_id: int, username: str = "system",
               allowed_village_ids: set[int] | None = None) -> dict:
    from dashboard.db.engine import run_write
    from loaders import ingest
    allowed = None if allowed_village_ids is None else {int(v) for v in allowed_village_ids}
    return run_write(engine, lambda conn: ingest.undo(conn, int(batch_id), username, allowed))


def list_batches(conn, village_ids: set[int] | None = None, limit: int = 50,
                 kind: str | None = None, township_ids=None) -> list[dict]:
    from loaders import ingest
    return ingest.batches(conn, village_ids, limit, kind, township_ids)


def template_xlsx(kind: str, lang: str = "zh") -> bytes:
    from loaders.template import build
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    return build(kind, lang)
