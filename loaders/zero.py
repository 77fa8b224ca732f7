"""Zero reports (零报告): "this month this ledger has nothing new" as a batch like any upload.

A village's ledger of a kind *covers* a month when it has rows dated in that month or when its
clerk filed a zero report for it. The 零报告制度 of dispute screening makes the two different
facts from "did not report". Here, in the caller's transaction:

- ``file(conn, kind, village_id, month, username)`` writes one ``import_batch`` (the ledger's
  kind, file name ``零报告 YYYY-MM``, no ledger rows), one ``zero_report`` row and its
  ``batch_change`` (so ``undo`` deletes it exactly like an upload's inserted row). Refused when
  the month already has rows of that kind for the village (the reason names how many), when a
  zero report is already there, or for a month not yet begun.
- ``conflicts(conn, kind, frame)``: the zero reports an upload's rows fall into (village and
  month); ``withdraw`` deletes them inside that upload's batch, keeping each row in its
  ``batch_change`` so that undoing the upload puts the zero report back.

Months are "YYYY-MM" text everywhere (``parse_month`` accepts 2025-6, 2025年6月, 202506).
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dashboard.db import schema as S
from dashboard.db.engine import bump_version
from loaders import spec
from loaders.problems import Problem, Refusal

TABLE = "zero_report"
_MONTH_RE = re.compile(r"^\s*(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))\s*$")


def parse_month(text: str) -> str:
    """'2025-06', '2025-6', '2025/06', '2025年6月', '202506' -> '2025-06'; ValueError otherwise."""
    m = _MONTH_RE.match(str(text or ""))
    if not m:
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    y, mo = int(m.group(1)), int(m.group(2) or m.group(3))
    if not (1 <= mo <= 12 and 1900 <= y <= 2999):
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    return f"{y:04d}-{mo:02d}"


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of 'YYYY-MM'."""
    y, m = int(month[:4]), int(month[5:7])
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return date(y, m, 1), date.fromordinal(nxt.toordinal() - 1)


def month_label(month: str, lang: str = "zh") -> str:
    """'2025-06' -> 2025年6月 (zh) or Jun 2025 (en)."""
    y, m = int(month[:4]), int(month[5:7])
    return f"{y}年{m}月" if lang == "zh" else date(y, m, 1).strftime("%b %Y")


def ledger_table(kind: str) -> sa.Table:
    if kind not in spec.LEDGER_KINDS:
        raise ValueError(f"kind must be one of {spec.LEDGER_KINDS}, not {kind!r}")
    return S.metadata.tables[spec.TABLES[kind]]


def rows_in_month(conn, kind: str, village_id: int, month: str) -> int:
    table = ledger_table(kind)
    lo, hi = month_bounds(month)
    d = table.c[spec.DATE_FIELD[kind]]
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(
        table.c.village_id == int(village_id), d >= lo, d <= hi)).scalar_one())


def existing(conn, kind: str, village_id: int, month: str) -> dict | None:
    z, b = S.zero_report, S.import_batch
    r = conn.execute(sa.select(z.c.id, z.c.batch_id, b.c.username, b.c.created_at)
                     .select_from(z.join(b, b.c.id == z.c.batch_id))
                     .where(z.c.village_id == int(village_id), z.c.kind == kind,
                            z.c.month == month)).mappings().first()
    return dict(r) if r else None


def file(conn, kind: str, village_id: int, month: str, username: str = "system",
         village_name: str = "", today: date | None = None) -> dict:
    """File a zero report (see the module docstring). Raises Refusal; returns
    {batch_id, kind, village_id, month}."""
    ledger_table(kind)
    month = parse_month(month)
    today = today or date.today()
    where = f"{village_name} {month_label(month)}"
    if month > f"{today.year:04d}-{today.month:02d}":
        raise Refusal("zero_future", value=where)
    n = rows_in_month(conn, kind, village_id, month)
    if n:
        raise Refusal("zero_has_rows", value=where, n=n, wanted=kind)
    old = existing(conn, kind, village_id, month)
    if old:
        raise Refusal("zero_exists", value=where, batch=old["batch_id"], user=old["username"],
                      when=f"{old['created_at']:%Y-%m-%d %H:%M}")
    digest = hashlib.sha256(f"zero|{kind}|{int(village_id)}|{month}".encode()).hexdigest()
    town = conn.execute(sa.select(S.village.c.township_id).where(S.village.c.id == int(village_id))).scalar()
    bid = conn.execute(sa.insert(S.import_batch).values(
        kind=kind, file_name=f"零报告 {month}", sha256=digest, village_id=int(village_id),
        township_id=town, username=(username or "system")[:64], created_at=datetime.now(), rows_read=0,
        inserted=0, updated=0, unchanged=0, state="applied").returning(S.import_batch.c.id)).scalar_one()
    zid = conn.execute(sa.insert(S.zero_report).values(
        village_id=int(village_id), kind=kind, month=month, batch_id=bid)
        .returning(S.zero_report.c.id)).scalar_one()
    conn.execute(sa.insert(S.batch_change).values(batch_id=bid, table_name=TABLE, row_id=zid))
    bump_version(conn)
    return {"batch_id": int(bid), "kind": kind, "village_id": int(village_id), "month": month}


def conflicts(conn, kind: str, frame: pd.DataFrame) -> list[dict]:
    """Zero reports of ``kind`` for a (village, month) the prepared rows fall into:
    [{id, village_id, month, rows, first_row}] in month order. One small query first: a
    file whose villages have no zero report of the kind costs nothing more (a bulk load)."""
    dcol = spec.DATE_FIELD.get(kind)
    if kind not in spec.LEDGER_KINDS or not len(frame) or dcol not in frame or "village_id" not in frame:
        return []
    z = S.zero_report
    vids_all = sorted({int(v) for v in pd.unique(frame["village_id"].dropna())})
    got = conn.execute(sa.select(z.c.id, z.c.village_id, z.c.month).where(
        z.c.kind == kind, z.c.village_id.in_(vids_all))).all() if vids_all else []
    if not got:
        return []
    ok = frame["village_id"].notna() & frame[dcol].notna()
    d = pd.to_datetime(frame.loc[ok, dcol])
    ym = (d.dt.year * 12 + d.dt.month - 1).to_numpy(dtype=np.int64)
    vids = frame.loc[ok, "village_id"].astype(np.int64).to_numpy()
    rows_no = frame.loc[ok, "_row"].to_numpy() if "_row" in frame else None
    present = set(np.unique(vids * 100_000 + ym).tolist())   # (village, month) pairs of the file
    out = []
    for zid, vid, month in got:
        m = int(month[:4]) * 12 + int(month[5:7]) - 1
        if int(vid) * 100_000 + m not in present:
            continue
        hit = (vids == int(vid)) & (ym == m)
        if hit.any():
            out.append({"id": int(zid), "village_id": int(vid), "month": month, "rows": int(hit.sum()),
                        "first_row": int(rows_no[hit].min()) if rows_no is not None else None})
    return sorted(out, key=lambda c: (c["month"], c["village_id"]))


def conflict_problems(items: list[dict], names: dict, column: str) -> list[Problem]:
    """One problem per zero report an upload would contradict (the first row of its month)."""
    return [Problem(c["first_row"], column, c["month"], "zero_contradicted",
                    {"village": names.get(c["village_id"], ""), "month": month_label(c["month"]),
                     "n": c["rows"]}) for c in items]


def withdraw(conn, ids: list[int], bid: int) -> int:
    """Delete these zero reports as part of batch ``bid`` (each kept whole in its batch_change,
    ``"_deleted": true``, for undo)."""
    if not ids:
        return 0
    z = S.zero_report
    rows = conn.execute(sa.select(z).where(z.c.id.in_(ids))).mappings().all()
    conn.execute(sa.insert(S.batch_change), [
        {"batch_id": bid, "table_name": TABLE, "row_id": int(r["id"]),
         "before": json.dumps({"village_id": int(r["village_id"]), "kind": r["kind"],
                               "month": r["month"], "batch_id": int(r["batch_id"]), "_deleted": True},
                              ensure_ascii=False)} for r in rows])
    conn.execute(sa.delete(z).where(z.c.id.in_(ids)))
    return len(rows)


def list_reports(conn, village_ids=None, kind: str | None = None, months=None) -> list[dict]:
    """Zero reports on file (village, kind, month, batch, who, when), newest month first."""
    z, b, v = S.zero_report, S.import_batch, S.village
    q = (sa.select(z.c.id, z.c.village_id, v.c.name.label("village"), z.c.kind, z.c.month,
                   z.c.batch_id, b.c.username, b.c.created_at)
         .select_from(z.join(b, b.c.id == z.c.batch_id).join(v, v.c.id == z.c.village_id))
         .order_by(z.c.month.desc(), v.c.name, z.c.kind))
    if village_ids is not None:
        q = q.where(z.c.village_id.in_(sorted(int(i) for i in village_ids)))
    if kind:
        q = q.where(z.c.kind == kind)
    if months is not None:
        q = q.where(z.c.month.in_(list(months)))
    return [dict(r) for r in conn.execute(q).mappings()]
