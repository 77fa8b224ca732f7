"""The upload service: import, undo, history and the rebuild of stale aggregates, on behalf of
someone (a logged-in user on the page, the operating-system user on the command line).

``loaders`` checks and writes files; this module decides who may, records it in the audit
log and does what follows a write. The page (``dashboard.ui.upload``) and the command line
(``python -m loaders``) both call it, so a rule about uploads lives here once.

- The role and the kind are checked FIRST, before the file is read: a leader is refused at
  once, and so is a clerk whose file can only be a registry or boundary file (by its name:
  .geojson/.json/.zip/.shp, or by the kind chosen) — nothing is parsed for them.
- The user's villages go to the loader as ``allowed_village_ids``: a clerk's file naming any
  other village is refused as a whole and nothing is written.
- Every real import gets one ``upload`` audit row, written *before* the work starts (so an
  import that dies half-way — killed, out of memory — still leaves its row, marked
  ``"state": "started"``) and completed after. A dry run is audited when it was refused, named
  a foreign village or probed another village's grids.
- After a bulk load (which commits with the aggregates stale) the aggregates are rebuilt.
"""
from __future__ import annotations

import getpass
import json
from dataclasses import replace
from pathlib import PurePath

import sqlalchemy as sa

from dashboard import auth, townships
from dashboard.db import schema as S
from dashboard.errors import UserError

# File names that can only hold boundaries or a registry (see loaders.read): refused by name
# for a user who may upload neither, before a byte of them is parsed.
GEO_SUFFIXES = (".geojson", ".json", ".zip", ".shp")
GEO_KINDS = ("villages", "grids")
# Problems that reveal another village's grids (a clerk probing grid codes it may not see).
GRID_PROBE_CODES = ("grid_other_village", "grid_code_other_village")


def os_user() -> str:
    """The operating-system account running the command line (recorded with its imports)."""
    try:  # the form dashboard.commands.users records its actions under
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # no passwd entry (containers): still say it came from the shell
        return "cli"


def _who(user: dict | None, ctx) -> str:
    return (user or {}).get("username") or ctx.username or "anonymous"


def may_upload_kind(user: dict | None, kind: str | None) -> bool:
    return kind is None or auth.can(user, auth.action_for_kind(kind))


def is_geo_name(file_name: str | None) -> bool:
    return PurePath(str(file_name or "").lower()).suffix in GEO_SUFFIXES


def run_import(engine, ctx, user: dict | None = None, *, refresh: bool = True):
    """``loaders.import_file`` for ``user`` (None: the command line, unrestricted; the actor
    is ``ctx.username``). Returns the loader's ImportResult (``refused == "forbidden"`` when
    the role may not). ``refresh=False`` leaves stale aggregates for a later rebuild."""
    import loaders
    from dashboard.db.engine import run_write
    who = _who(user, ctx)
    cli = user is None
    action = "upload_check" if ctx.dry_run else "upload"
    base = {"file": str(ctx.file_name or "")[:255], "village": ctx.village,
            "dry_run": bool(ctx.dry_run)}
    if ctx.township:
        base["township"] = str(ctx.township)[:100]
    if not cli:
        if not auth.can(user, "upload") and not auth.can(user, "manage_registry"):
            return _refuse(engine, who, action, base, ctx)
        if not may_upload_kind(user, ctx.kind):
            return _refuse(engine, who, action, base, ctx)
        if is_geo_name(ctx.file_name) and not any(auth.can(user, auth.action_for_kind(k))
                                                for k in GEO_KINDS):
            return _refuse(engine, who, action, base, replace(ctx, kind=ctx.kind or "grids"))
        ctx = replace(ctx, username=who, allowed_village_ids=auth.allowed_village_ids(user))
        fixed = auth.fixed_township(user)
        if fixed is not None:  # a township's own staff upload for their township only
            ctx = replace(ctx, township=fixed)
    marker = None
    if not ctx.dry_run:  # committed before the work: a crash still leaves this row
        marker = run_write(engine, lambda c: _start_row(c, who, action, {**base, "kind": ctx.kind}))
    try:
        result = None
        if not cli and ctx.kind is None and not auth.can(user, "manage_registry"):
            probe = loaders.import_file(engine, replace(ctx, dry_run=True))
            if probe.kind is not None and not may_upload_kind(user, probe.kind):
                return _refuse(engine, who, action, base, replace(ctx, kind=probe.kind), marker)
            ctx = replace(ctx, kind=probe.kind)
            result = probe if ctx.dry_run else None
        if result is None:
            result = loaders.import_file(engine, ctx)
    except BaseException as exc:
        if marker is not None:
            detail = {**base, "kind": ctx.kind, "state": "crashed", "error": type(exc).__name__}
            run_write(engine, lambda c: _finish_row(c, marker, False, detail))
        raise
    if result.written and refresh:
        rebuild_stale(engine)
    errs = result.errors or []
    foreign = any(e.get("code") == "not_allowed" for e in errs)
    probing = not cli and any(e.get("code") in GRID_PROBE_CODES for e in errs)
    if not ctx.dry_run or result.refused or foreign or probing:
        detail = {**base, "kind": result.kind, "batch_id": result.batch_id,
                  "rows_read": result.rows_read, "inserted": result.inserted,
                  "updated": result.updated, "unchanged": result.unchanged,
                  "refused": result.refused or None,
                  "errors": result.total_errors or len(errs),
                  "foreign_village": foreign or None, "foreign_grid": probing or None}
        detail = {k: v for k, v in detail.items() if v is not None}
        if marker is not None:
            run_write(engine, lambda c: _finish_row(c, marker, result.ok, detail))
        else:
            run_write(engine, lambda c: auth.record(c, who, action, result.ok, detail))
    if result.written and result.township_created:
        run_write(engine, lambda c: townships.record_added(
            c, who, name=result.township_created, batch_id=result.batch_id, file=base["file"]))
    return result


def _start_row(conn, who: str, action: str, detail: dict) -> int:
    auth.record(conn, who, action, False, {**detail, "state": "started"})
    return conn.execute(sa.select(sa.func.max(S.audit_log.c.id))).scalar_one()


def _finish_row(conn, row_id: int, ok: bool, detail: dict) -> None:
    conn.execute(sa.update(S.audit_log).where(S.audit_log.c.id == row_id).values(
        ok=bool(ok), detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)))


def _refuse(engine, who, action, base, ctx, marker: int | None = None):
    import loaders
    from dashboard.db.engine import run_write
    from dashboard.i18n import t
    detail = {**base, "kind": ctx.kind, "refused": "forbidden"}
    if marker is not None:
        run_write(engine, lambda c: _finish_row(c, marker, False, detail))
    else:
        run_write(engine, lambda c: auth.record(c, who, action, False, detail))
    return loaders.ImportResult(kind=ctx.kind, file_name=ctx.file_name or "", dry_run=ctx.dry_run,
                                refused="forbidden", total_errors=1,
                                errors=[{"row": None, "column": "", "value": "", "code": "forbidden",
                                         "message": t("auth.forbidden", ctx.lang)}])


def undo(engine, batch_id: int, user: dict | None = None, lang: str = "zh",
         username: str | None = None) -> dict:
    """``loaders.undo_batch`` for ``user`` (None: the command line as ``username``).

    The loader audits a successful undo itself (action ``undo_import``); a refusal (no
    rights, another village's batch, already undone, a later batch in the way) is audited
    here under the same action and re-raised as the loader's UserError."""
    import loaders
    from dashboard.db.engine import run_write
    who = (user or {}).get("username") or username or "anonymous"
    detail = {"batch_id": int(batch_id)}
    try:
        if user is not None and not auth.can(user, "undo"):
            raise UserError("auth.forbidden")
        allowed = auth.allowed_village_ids(user) if user is not None else None
        out = loaders.undo_batch(engine, int(batch_id), username=who, allowed_village_ids=allowed)
    except UserError as exc:
        run_write(engine, lambda c: auth.record(c, who, "undo_import", False,
                                                {**detail, "refused": exc.key}))
        raise
    rebuild_stale(engine)
    return out


def file_zero_report(engine, kind: str, village: str, month: str, user: dict | None = None,
                     username: str | None = None, today=None) -> dict:
    """File a zero report (零报告, ``loaders.zero.file``) for ``user`` (None: the command line
    as ``username``, unrestricted). ``village`` is a name or a 12-digit code, ``month``
    YYYY-MM. Returns {batch_id, kind, village_id, village, month}; raises ``loaders.Refusal``
    (a UserError) for: no rights or another village (``not_allowed_village``), an unknown
    village (``unknown_village_param``: the command line's usage error), rows already in the
    month, a zero report already filed, a month not begun. Audited as ``zero_report``, refusals
    included."""
    from dashboard.db.engine import run_write
    from loaders import Refusal
    from loaders import zero as Z
    from loaders.validate import Registry
    who = (user or {}).get("username") or username or "anonymous"
    detail = {"kind": kind, "village": str(village or "")[:100], "month": str(month or "")[:20]}

    def body(conn):
        if user is not None and not auth.can(user, "upload"):
            raise Refusal("not_allowed_village", value=village)
        try:
            m = Z.parse_month(month)
        except ValueError:
            raise Refusal("zero_bad_month", value=month)
        reg = Registry.load(conn)
        vid, hint = reg.find_village(str(village or ""))
        if vid is None:
            raise Refusal("unknown_village_param", value=village, suggestion=hint)
        allowed = auth.allowed_village_ids(user) if user is not None else None
        if allowed is not None and vid not in allowed:
            raise Refusal("not_allowed_village", value=village)
        name = reg.village_names().get(vid, str(village))
        out = Z.file(conn, kind, vid, m, who, village_name=name, today=today)
        auth.record(conn, who, "zero_report", True, {**detail, "month": m, "village": name,
                                                      "batch_id": out["batch_id"]})
        return {**out, "village": name}
    try:
        return run_write(engine, body)
    except Refusal as exc:
        run_write(engine, lambda c: auth.record(c, who, "zero_report", False,
                                                {**detail, "refused": exc.code}))
        raise


def rebuild_stale(engine) -> float | None:
    """Rebuild the pre-aggregates if a write left them stale (seconds taken, or None)."""
    from dashboard import aggregates
    return aggregates.rebuild_if_stale(engine)


def batch_scope(village_ids, township_ids=None):
    """WHERE: a batch of one of ``village_ids`` (None: any batch), or (``township_ids``) a file
    of several villages placed in one of those townships."""
    ib = S.import_batch
    if village_ids is None:
        return sa.true()
    mine = ib.c.village_id.in_(sorted(int(v) for v in village_ids))
    if not township_ids:
        return mine
    return sa.or_(mine, sa.and_(ib.c.village_id.is_(None),
                                ib.c.township_id.in_(sorted(int(t) for t in township_ids))))


def history(conn, village_id: int | None = None, username: str | None = None,
            limit: int = 500, village_ids=None, township_ids=None) -> list[dict]:
    """Import batches across all villages (only those of ``village_ids`` when given, and the
    files of several villages placed in ``township_ids``: a township's own), newest first, with
    the village name."""
    b, v = S.import_batch, S.village
    q = (sa.select(b.c.id, b.c.created_at, b.c.username, b.c.kind, b.c.file_name,
                   v.c.name.label("village"), b.c.rows_read, b.c.inserted, b.c.updated,
                   b.c.unchanged, b.c.state)
         .select_from(b.outerjoin(v, v.c.id == b.c.village_id)))
    if village_id is not None:
        q = q.where(b.c.village_id == village_id)
    q = q.where(batch_scope(village_ids, township_ids))
    if username:
        q = q.where(b.c.username == username)
    q = q.order_by(b.c.created_at.desc(), b.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


def batch_rows(conn, batch_id: int, user: dict | None = None, lang: str = "zh",
               limit: int = 100_000):
    """The ledger rows a batch added, changed or removed, as they are now (removed: as they
    were), one column per field with the catalogue's labels and a first column saying which.
    None when the user may not see the batch or it is not a ledger batch."""
    import pandas as pd

    from dashboard.i18n import t
    from loaders import spec
    b = conn.execute(sa.select(S.import_batch).where(S.import_batch.c.id == int(batch_id))).mappings().first()
    if b is None or b["kind"] not in spec.LEDGER_KINDS:
        return None
    allowed = auth.allowed_village_ids(user) if user is not None else None
    if allowed is not None and (b["village_id"] is None or int(b["village_id"]) not in allowed):
        return None
    table = S.metadata.tables[spec.TABLES[b["kind"]]]
    bc = S.batch_change
    changes = conn.execute(sa.select(bc.c.row_id, bc.c.before).where(
        bc.c.batch_id == int(batch_id), bc.c.table_name == table.name).limit(limit)).all()
    how = {int(r): ("inserted" if before is None else
                    "deleted" if '"_deleted": true' in before else "updated") for r, before in changes}
    gone = [dict(json.loads(before), id=int(r)) for r, before in changes
            if before is not None and '"_deleted": true' in before]
    live = conn.execute(sa.select(table).where(sa.or_(
        table.c.id.in_([i for i, h in how.items() if h != "deleted"]),
        table.c.batch_id == int(batch_id))).order_by(table.c.id).limit(limit)).mappings().all()
    names = {int(i): n for i, n in conn.execute(sa.select(S.village.c.id, S.village.c.name))}
    fields = [f for f in spec.fields(b["kind"]) if f.name in table.c or f.type == "village"]
    out = []
    for r in [*live, *gone]:
        rec = {t("upload.batch_change", lang): t(f"upload.change_{how.get(int(r['id']), 'inserted')}", lang)}
        for f in fields:
            v = names.get(int(r["village_id"]), "") if f.type == "village" else r.get(f.name)
            if f.type == "enum" and v is not None:
                v = t(f"enum.{f.enum}.{v}", lang)
            rec[t(f"loader.field.{b['kind']}.{f.name}", lang)] = "" if v is None else v
        out.append(rec)
    return pd.DataFrame(out)


# ---------------------------------------------------------------- remembered column mappings

def header_signature(headers) -> str:
    """The header row as the intake sees it (normalised, in order): the same ledger next month
    has the same signature whatever its rows."""
    import hashlib

    from loaders.spec import norm_header
    return hashlib.sha256("\x1f".join(norm_header(h) for h in headers).encode("utf-8")).hexdigest()


def saved_mapping(conn, village_id: int | None, kind: str, signature: str) -> dict[str, str]:
    """The manual mapping last used for this village, kind and header signature ({} if none)."""
    m = S.upload_mapping
    got = conn.execute(sa.select(m.c.mapping).where(
        m.c.village_id == int(village_id or 0), m.c.kind == kind, m.c.signature == signature)).scalar()
    return json.loads(got) if got else {}


def remember_mapping(engine, village_id: int | None, kind: str, signature: str,
                     mapping: dict[str, str], username: str) -> None:
    """Keep a manual mapping for the next file with these headers (replacing an older one)."""
    from datetime import datetime

    from dashboard.db.engine import run_write
    m = S.upload_mapping
    key = (m.c.village_id == int(village_id or 0), m.c.kind == kind, m.c.signature == signature)
    text = json.dumps(dict(sorted(mapping.items())), ensure_ascii=False)

    def body(conn):
        conn.execute(sa.delete(m).where(*key))
        conn.execute(sa.insert(m).values(village_id=int(village_id or 0), kind=kind,
                                         signature=signature, mapping=text,
                                         username=(username or "anonymous")[:64],
                                         updated_at=datetime.now()))
    run_write(engine, body)


def batches(conn, user: dict | None = None, limit: int = 100) -> list[dict]:
    """The batches a user may see on the upload page (their villages'), newest first."""
    import loaders
    allowed = auth.allowed_village_ids(user) if user is not None else None
    towns = auth.visible_township_ids(user) if (user or {}).get("role") == "admin" else None
    return [r for r in loaders.list_batches(conn, village_ids=allowed, limit=limit, township_ids=towns)
            if r["kind"] != "demo"]
