"""Ingest: match rows to the database, then insert/update in the caller's transaction.

Rows are matched on their natural key (record number within the village; village
code or name; grid code or name within the village). Only changed rows are
written, and only the columns the file supplies. Every write is recorded in
batch_change (before = NULL for an insert, the previous values as JSON for an
update), so that undo restores exactly what the batch changed; a ledger load above
REFRESH_MAX_ROWS records its updates only (its inserted rows carry its batch_id,
and undo deletes by that). Inserts and updates go through the DBAPI (executemany,
COPY on PostgreSQL; no per-row ORM objects).
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dashboard import townships, uploads
from dashboard.db import schema as S
from dashboard.db.dialect import big_cache, is_sqlite, json_text, mark, sqlite_indexes
from dashboard.db.engine import bump_version
from loaders import normalise as N
from loaders import spec
from loaders import zero as zero_reports
from loaders.problems import Problem, Refusal, ValidationFailed

TABLE_OBJ = {"village": S.village, "grid": S.grid, "dispute": S.dispute,
             "volunteer_activity": S.volunteer_activity, "rep_visit": S.rep_visit,
             "suggestion": S.suggestion, "township": S.township, "zero_report": S.zero_report}
# undo deletes in this order (children first)
DELETE_ORDER = ("zero_report", "dispute", "volunteer_activity", "rep_visit", "suggestion", "grid",
                "village",
                "township")


# ---------------------------------------------------------------- value helpers

def _ctype(table: sa.Table, c: str) -> str:
    t = table.c[c].type
    if isinstance(t, sa.Date):
        return "date"
    if isinstance(t, sa.Integer):
        return "int"
    if isinstance(t, sa.Float):
        return "float"
    return "text"


def canon(s: pd.Series, kind: str) -> np.ndarray:
    """A comparable string form of a column, so file values and stored values compare equal."""
    s = pd.Series(s).reset_index(drop=True)
    if len(s) == 0:
        return np.array([], dtype=object)
    if kind == "date":
        if not pd.api.types.is_datetime64_any_dtype(s.dtype):
            s = pd.to_datetime(s.astype(object), errors="coerce")
        arr = s.to_numpy(dtype="datetime64[D]")
        out = np.datetime_as_string(arr, unit="D").astype(object)
        out[np.isnat(arr)] = ""
        return out
    if kind in ("int", "float"):
        v = _floats(s)
        v = np.round(v) if kind == "int" else np.round(v, 7)
        out = v.astype(str).astype(object)
        out[np.isnan(v)] = ""
        return out
    out = s.astype(object).to_numpy(dtype=object)
    na = pd.isna(out)
    if na.any():
        out = out.copy()
        out[na] = ""
    if pd.api.types.infer_dtype(out, skipna=False) != "string":  # numbers in a text column
        out = out.astype(str).astype(object)
    return out


def _floats(s: pd.Series) -> np.ndarray:
    """A column as float64, NaN where a cell is empty or not a number."""
    if not pd.api.types.is_numeric_dtype(s.dtype) or s.dtype == object:
        s = pd.to_numeric(s.astype(object), errors="coerce")
    return s.to_numpy(dtype="float64", na_value=np.nan)


def _rounded(s: pd.Series, kind: str) -> np.ndarray:
    v = _floats(pd.Series(s).reset_index(drop=True))
    return np.round(v) if kind == "int" else np.round(v, 7)


def db_values(s: pd.Series, kind: str, sqlite: bool) -> list:
    """Column values as plain Python objects for the DBAPI (vectorised where it matters)."""
    s = pd.Series(s)
    if kind == "date":
        if not pd.api.types.is_datetime64_any_dtype(s.dtype):
            s = pd.to_datetime(s.astype(object), errors="coerce")
        arr = s.to_numpy(dtype="datetime64[D]")
        nat = np.isnat(arr)
        if sqlite:
            out = np.datetime_as_string(arr, unit="D").astype(object)
        else:
            out = arr.astype(object)  # datetime.date objects
        if nat.any():
            out[nat] = None
        return out.tolist()
    if kind in ("int", "float"):
        arr = _floats(s)
        na = np.isnan(arr)
        if kind == "int":
            out = np.where(na, 0, np.round(arr)).astype("int64").astype(object)
        else:
            out = arr.astype(object)
        if na.any():
            out[na] = None
        return out.tolist()
    out = s.astype(object).to_numpy(dtype=object)
    na = pd.isna(out)
    if na.any():
        out = out.copy()
        out[na] = None
    return out.tolist()


def _json_value(v, kind: str):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if kind == "date":
        return (v if isinstance(v, date) else pd.Timestamp(v).date()).isoformat()
    if kind == "int":
        return int(v)
    if kind == "float":
        return float(v)
    return str(v)


def _from_json(v, kind: str):
    if v is None:
        return None
    if kind == "date":
        return date.fromisoformat(v)
    return v


def _executemany(conn, sql_cols: list[str], table: str, rows: list[tuple], op: str = "insert",
                 where: str = "id"):
    if not rows:
        return
    sqlite = is_sqlite(conn)
    ph = mark(conn)
    if op == "insert":
        sql = f"INSERT INTO {table} ({', '.join(sql_cols)}) VALUES ({', '.join([ph] * len(sql_cols))})"
    else:
        sets = ", ".join(f"{c} = {ph}" for c in sql_cols)
        sql = f"UPDATE {table} SET {sets} WHERE {where} = {ph}"
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()


# ---------------------------------------------------------------- matching

def _existing(conn, table: sa.Table, cols: list[str], where) -> pd.DataFrame:
    sel = sa.select(*[table.c[c] for c in cols])
    if where is not None:
        sel = sel.where(where)
    rows = conn.execute(sel).all()
    if not rows:
        return pd.DataFrame(rows, columns=cols)
    # column by column: pandas would otherwise inspect every Row object (slow for a million)
    return pd.DataFrame(dict(zip(cols, (list(v) for v in zip(*rows)))))


def _diff(new: pd.DataFrame, old: pd.DataFrame, cols: list[str], table: sa.Table) -> np.ndarray:
    """Which matched rows differ in any of cols (new and old aligned row by row)."""
    changed = np.zeros(len(new), dtype=bool)
    for c in cols:
        k = _ctype(table, c)
        if k in ("int", "float") and c in new and len(new):
            # what canon's strings would say, without making them: equal rounded values
            a, b = _rounded(new[c], k), _rounded(old[c], k)
            changed |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
            continue
        a = canon(new[c], k) if c in new else np.full(len(new), "", dtype=object)
        b = canon(old[c], k)
        changed |= (a != b)
    return changed


def apply(conn, prep, reg, *, kind: str, batch: dict, dry_run: bool,
          remove_missing: bool = False, accept_reused: bool = False,
          withdraw_zero: bool = False) -> dict:
    """Plan (and unless dry_run, write) the prepared rows. Returns counts, batch id and, for a
    ledger, the diff (see ``ledger_diff``). ``remove_missing`` deletes the rows the diff lists
    as missing; an update the diff flags as a probably reused number is refused unless
    ``accept_reused``. Rows dated in a month the village filed a zero report for (the diff's
    ``zero``) are refused unless ``withdraw_zero``: the zero report was wrong, and this batch
    withdraws it (undoing the batch brings it back)."""
    fn = {"villages": _plan_villages, "grids": _plan_grids}.get(kind, _plan_ledger)
    plan = fn(conn, prep, reg, kind)
    if plan.get("problems"):
        raise ValidationFailed(plan["problems"], len({p.row for p in plan["problems"]}),
                               len(plan["problems"]))
    diff = ledger_diff(conn, prep, plan, kind) if kind in spec.LEDGER_KINDS else None
    if diff and diff["reused_total"] and not accept_reused and not dry_run:
        probs = [Problem(r["row"], _header(prep, kind, spec.RECORD_NO[kind]), r["key"], "reused_no",
                         {"fields": "、".join(_label(kind, f) for f in r["fields"])})
                 for r in diff["reused"]]
        raise ValidationFailed(probs, diff["reused_total"], diff["reused_total"])
    zero = zero_reports.conflicts(conn, kind, prep.frame) if diff is not None else []
    if diff is not None:
        names = reg.village_names()
        diff["zero"] = [{**z, "village": names.get(z["village_id"], "")} for z in zero]
    if zero and not withdraw_zero and not dry_run:
        probs = zero_reports.conflict_problems(zero, reg.village_names(),
                                               _header(prep, kind, spec.DATE_FIELD[kind]))
        raise ValidationFailed(probs, sum(z["rows"] for z in zero), len(probs))
    dele = diff["missing_ids"] if diff and remove_missing else []
    counts = {"inserted": len(plan["insert"]), "updated": len(plan["update"]),
              "unchanged": plan["unchanged"]}
    if dry_run:
        return {**counts, "batch_id": None, "deleted": len(dele), "diff": diff}
    new_towns = [tid for tname, tid in plan.get("pre_inserted", []) if tname == "township"]
    bid = conn.execute(sa.insert(S.import_batch).values(
        kind=kind, file_name=batch["file_name"][:255], sha256=batch["sha256"],
        village_id=batch.get("village_id"),
        township_id=batch.get("township_id") or (new_towns[0] if len(new_towns) == 1 else None),
        username=batch.get("username") or "system",
        created_at=datetime.now(), rows_read=batch["rows_read"], **counts,
        state="applied").returning(S.import_batch.c.id)).scalar_one()
    for tname, tid in plan.get("pre_inserted", []):
        conn.execute(sa.insert(S.batch_change).values(batch_id=bid, table_name=tname, row_id=tid))
    written = counts["inserted"] + counts["updated"]
    # A ledger load too big for an in-transaction refresh records no batch_change row per
    # inserted row (a million of them would cost more than the load): its rows carry its
    # batch_id, which is how undo finds them (see undo: import_batch.inserted tells).
    record = kind not in spec.LEDGER_KINDS or written <= REFRESH_MAX_ROWS
    _write(conn, plan, bid, record_inserts=record)
    if zero:
        zero_reports.withdraw(conn, [z["id"] for z in zero], bid)
    if dele:
        _delete_rows(conn, plan["table"], dele, bid)
        conn.execute(sa.update(S.import_batch).where(S.import_batch.c.id == bid)
                     .values(deleted=len(dele)))
        written += len(dele)
    if kind in spec.LEDGER_KINDS and written:
        _refresh_aggregates(conn, bid, written)
    bump_version(conn)
    return {**counts, "batch_id": bid, "deleted": len(dele), "diff": diff}


DIFF_ROWS = 200  # rows of each part of the diff listed for the preview (the counts are whole)


def _label(kind: str, field: str) -> str:
    from dashboard.i18n import t
    return t(f"loader.field.{kind}.{field}", "zh")


def ledger_diff(conn, prep, plan, kind: str) -> dict:
    """What the file does to the database, for the preview before 确认导入.

    ``new``: rows it adds; ``changed``: rows it updates, each with ``cells`` {field: [old, new]};
    ``unchanged``: how many match exactly; ``missing``: when the file is one village's ledger,
    that village's stored rows dated within the file's span of dates that the file no longer
    holds (kept unless the import is asked to remove them); ``reused``: updates of a
    record-numbered row that change its date or category (probably another case reusing the
    number). Lists are capped at DIFF_ROWS; the ``*_total`` counts are not."""
    table = plan["table"]
    key = spec.RECORD_NO[kind]
    upd: pd.DataFrame = plan["update"]
    old_rows: pd.DataFrame = plan.get("old_changed", pd.DataFrame())
    cols = plan["update_cols"]
    kinds = {c: _ctype(table, c) for c in cols}
    # reused numbers over every update at once; cell by cell only for the rows listed
    hit_by = {}
    if len(upd) and len(old_rows) == len(upd):
        keys = upd[key].astype(str)
        numbered = ~keys.str.startswith(spec.NATURAL_PREFIX).to_numpy(dtype=bool)
        for f in spec.REUSE_FIELDS.get(kind, ()):
            if f in upd and f in old_rows:
                hit_by[f] = numbered & (canon(upd[f], kinds[f]) != canon(old_rows[f], kinds[f]))
    reused_mask = np.zeros(len(upd), dtype=bool)
    for m in hit_by.values():
        reused_mask |= m
    listed = set(range(min(len(upd), DIFF_ROWS))) | set(np.flatnonzero(reused_mask)[:DIFF_ROWS].tolist())
    changed, reused = [], []
    for i in sorted(listed):
        old = json.loads(plan["before"][i])
        cells = {}
        for c in cols:
            if c in ("village_id", key):
                continue
            b = upd[c].iloc[i] if c in upd else None
            if kinds[c] == "date" and b is not None and not pd.isna(b):
                b = pd.Timestamp(b).date()  # a Timestamp is a datetime: its isoformat has a time
            a, b = old.get(c), _json_value(b, kinds[c])
            if kinds[c] == "float" and a is not None and b is not None:
                same = round(float(a), 6) == round(float(b), 6)
            else:
                same = a == b
            if not same:
                cells[c] = [a, b]
        rec = {"row": int(upd["_row"].iloc[i]), "key": str(upd[key].iloc[i]),
               "id": int(upd["id"].iloc[i]), "cells": cells}
        if reused_mask[i]:
            reused.append({**rec, "fields": [f for f, m in hit_by.items() if m[i]]})
        if i < DIFF_ROWS:
            changed.append(rec)
    ins = plan["insert"]
    new = [{"row": int(r), "key": str(k)} for r, k in
           zip(ins["_row"].head(DIFF_ROWS).tolist(), ins[key].head(DIFF_ROWS).tolist())]
    missing, missing_ids, span = [], [], None
    dcol = spec.DATE_FIELD[kind]
    vids = prep.frame["village_id"].dropna().unique() if len(prep.frame) else []
    if len(vids) == 1 and dcol in prep.frame and prep.frame[dcol].notna().any():
        lo, hi = prep.frame[dcol].min().date(), prep.frame[dcol].max().date()
        span = [lo.isoformat(), hi.isoformat()]
        mine = set(plan.get("matched_ids", ()))
        label_col = spec.LABEL_FIELD[kind]
        q = (sa.select(table.c.id, table.c[key], table.c[dcol], table.c[label_col])
             .where(table.c.village_id == int(vids[0]), table.c[dcol] >= lo, table.c[dcol] <= hi)
             .order_by(table.c[dcol], table.c.id))
        for rid, no, d, what in conn.execute(q):
            if int(rid) in mine:
                continue
            missing_ids.append(int(rid))
            if len(missing) < DIFF_ROWS:
                missing.append({"id": int(rid), "key": str(no), "date": str(d)[:10], "what": what})
    return {"new": new, "new_total": len(ins), "changed": changed, "changed_total": len(upd),
            "unchanged": int(plan["unchanged"]), "missing": missing,
            "missing_total": len(missing_ids), "missing_ids": missing_ids, "span": span,
            "reused": reused, "reused_total": int(reused_mask.sum())}


def _delete_rows(conn, table: sa.Table, ids: list[int], bid: int) -> None:
    """Delete rows a re-uploaded ledger no longer holds; batch_change keeps each whole row
    (``"_deleted": true``) so that undo puts it back with its id."""
    cols = [c.name for c in table.c if c.name != "id"]
    kinds = {c: _ctype(table, c) for c in cols}
    for k in range(0, len(ids), 5000):
        chunk = ids[k:k + 5000]
        rows = conn.execute(sa.select(table).where(table.c.id.in_(chunk))).mappings().all()
        conn.execute(sa.insert(S.batch_change), [
            {"batch_id": bid, "table_name": table.name, "row_id": int(r["id"]),
             "before": json.dumps({**{c: _json_value(r[c], kinds[c]) for c in cols}, "_deleted": True},
                                  ensure_ascii=False)} for r in rows])
        conn.execute(sa.delete(table).where(table.c.id.in_(chunk)))


# Above this many written rows the pre-aggregates are left marked dirty (metrics then read
# the raw rows, always right) for ``python -m dashboard aggregates`` to rebuild, so that a
# county-wide bulk load is not slowed down by a refresh inside its transaction.
REFRESH_MAX_ROWS = 50_000


def _refresh_aggregates(conn, batch_id: int, written: int) -> None:
    from dashboard import aggregates
    if written <= REFRESH_MAX_ROWS:
        aggregates.refresh_batch(conn, batch_id)


def _write(conn, plan: dict, bid: int, record_inserts: bool = True):
    sqlite = is_sqlite(conn)
    # index pages of a bulk load must stay in memory, or every row costs page I/O
    with big_cache(conn, len(plan["insert"]) + len(plan["update"]) > BULK_ROWS):
        _write_rows(conn, plan, bid, sqlite, record_inserts)


def _write_rows(conn, plan: dict, bid: int, sqlite: bool, record_inserts: bool = True):
    table: sa.Table = plan["table"]
    tname = table.name
    ins: pd.DataFrame = plan["insert"]
    if len(ins):
        cols = [c for c in plan["insert_cols"]]
        # every row this batch inserts gets an id above the largest one now (SQLite: one writer;
        # PostgreSQL: sequence values handed out after this read are larger than any visible id)
        top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
        if sqlite and len(ins) > BULK_ROWS:
            _sqlite_bulk_insert(conn, table, ins, cols, bid, plan.get("order", []),
                                plan.get("insert_order"), top=int(top))
        elif not (not sqlite and len(ins) > BULK_ROWS and conn.dialect.driver == "psycopg"
                  and _copy_insert_csv(conn, table, ins, cols, bid)):
            lists = [db_values(ins[c], _ctype(table, c), sqlite) if c in ins else [None] * len(ins)
                     for c in cols]
            lists.append([bid] * len(ins))
            if not sqlite and len(ins) > BULK_ROWS and conn.dialect.driver == "psycopg":
                _copy_insert(conn, cols + ["batch_id"], tname, zip(*lists))
            else:
                _executemany(conn, cols + ["batch_id"], tname, list(zip(*lists)))
        if record_inserts:
            conn.execute(sa.text(
                f"INSERT INTO batch_change (batch_id, table_name, row_id) "
                f"SELECT :b, :t, id FROM {tname} WHERE id > :top AND batch_id = :b ORDER BY id"),
                {"b": bid, "t": tname, "top": int(top)})
    upd: pd.DataFrame = plan["update"]
    if len(upd):
        cols = plan["update_cols"]
        lists = [db_values(upd[c], _ctype(table, c), sqlite) for c in cols]
        lists.append([bid] * len(upd))
        lists.append([int(x) for x in upd["id"]])
        _executemany(conn, cols + ["batch_id"], tname, list(zip(*lists)), op="update")
        before = plan["before"]
        ph = mark(conn)
        cur = conn.connection.driver_connection.cursor()
        try:
            cur.executemany(f"INSERT INTO batch_change (batch_id, table_name, row_id, before) "
                            f"VALUES ({ph}, {ph}, {ph}, {ph})",
                            [(bid, tname, int(i), b) for i, b in zip(upd["id"], before)])
        finally:
            cur.close()


# Above this many rows a load takes the bulk path: SQLite gets the rows sorted in the order of
# the table's unique key, bound many per statement straight into the table, with the aggregates'
# per-row dirty trigger dropped for the load and rebuilt after it and, when the load is at least
# half as big as the table already is, its secondary indexes too, all inside the import's
# transaction (SQLite DDL is transactional: a failure or a kill restores them); CHECK
# constraints are verified once over the new rows. PostgreSQL gets COPY.
BULK_ROWS = 20_000
BULK_VALUES = 256  # rows per INSERT statement of the SQLite bulk path


def _bulk_column(s: pd.Series | None, kind: str, n: int):
    """One column for SQLite's binder: (object array, NULL mask, words). Equal values share
    one Python object (a string's UTF-8 form is then made once); when ``words`` is a list,
    the array holds their indexes (-1 for NULL) instead."""
    if s is None or (s.dtype == object and s.isna().all()):
        return np.full(n, None, dtype=object), np.ones(n, dtype=bool), None
    if kind == "date":
        if not pd.api.types.is_datetime64_any_dtype(s.dtype):
            s = pd.to_datetime(s.astype(object), errors="coerce")
        days = s.to_numpy(dtype="datetime64[D]")
        na = np.isnat(days)
        num = days.view("int64")
        lo, hi = (int(num[~na].min()), int(num[~na].max())) if not na.all() else (0, 0)
        if hi - lo < 400_000:  # one string per calendar day in the range, picked by offset
            table = np.datetime_as_string(np.arange(lo, hi + 1).astype("datetime64[D]"),
                                          unit="D").astype(object)
            out = table[np.where(na, 0, num - lo)]
        else:  # pragma: no cover - dates over a thousand years apart
            uniq, inv = np.unique(days, return_inverse=True)
            out = np.datetime_as_string(uniq, unit="D").astype(object)[inv.reshape(-1)]
    elif kind in ("int", "float"):
        arr = _floats(s)
        na = np.isnan(arr)
        if kind == "int":
            iv = np.where(na, 0, np.round(arr)).astype("int64")
            lo, hi = (int(iv.min()), int(iv.max())) if n else (0, 0)
            if hi - lo <= max(65536, n):  # ids, counts: one Python int per value, shared
                out = np.arange(lo, hi + 1).astype(object)[iv - lo]
            else:
                out = iv.astype(object)
        else:
            out = arr.astype(object)
    elif n > 20_000 and s.iloc[:2000].nunique() > 1000:  # record numbers: nothing to share
        na = s.isna().to_numpy(dtype=bool)
        out = s.to_numpy(dtype=object, na_value=None)
    else:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        values = uniques.tolist()
        if 0 < len(values) <= CASE_VALUES and all(isinstance(v, str) and "\0" not in v for v in values):
            # a few distinct words (status, level, category): bind small integers, and let
            # SQL spell them (CASE ? WHEN 0 THEN '…' …; no branch, -1: NULL)
            return codes.astype(object), codes < 0, values
        lookup = np.empty(len(values) + 1, dtype=object)
        lookup[:len(values)] = values
        out = lookup[codes]  # code -1 (missing) picks the trailing None
        na = codes < 0
    if na.any():
        out[na] = None
    return out, na, None


CASE_VALUES = 16  # at most this many distinct words in a text column are spelt by SQL


def _sql_text(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def _key_order(ins: pd.DataFrame, order: list[str]) -> np.ndarray | None:
    """Row permutation sorting the rows like the unique index (byte order, as SQLite's BINARY)."""
    if not order or any(c not in ins for c in order):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        tbl = pa.table({c: pa.array(ins[c], from_pandas=True) for c in order})
        return pc.sort_indices(tbl, sort_keys=[(c, "ascending") for c in order]).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):  # pragma: no cover
        return None


def _agg_triggers(conn, tname: str) -> list[tuple[str, str]]:
    """The aggregates' "mark dirty" INSERT triggers on a table, exactly as installed."""
    from dashboard import aggregates
    known = {" ".join(d.split()) for d in aggregates.trigger_ddl("sqlite")}
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (tname,)).all()
    return [(n, q) for n, q in rows if q and " ".join(q.split()) in known and " INSERT " in f" {q} "]


def _sqlite_bulk_insert(conn, table: sa.Table, ins: pd.DataFrame, cols: list[str], bid: int,
                        order: list[str], perm: np.ndarray | None = None, top: int = 0) -> None:
    tname = table.name
    n = len(ins)
    if perm is None or len(perm) != n:
        perm = _key_order(ins, order)
    names, marks, arrays = [], [], []
    for c in cols:
        a, na, words = _bulk_column(ins[c] if c in ins else None, _ctype(table, c), n)
        if na.all() and table.c[c].server_default is None:
            continue  # NULL is what the column gets when left out
        mark = "?"
        if words is not None:
            mark = "CASE ? " + " ".join(f"WHEN {i} THEN {_sql_text(w)}" for i, w in enumerate(words)) + " END"
        elif na.any():
            # None goes through the DBAPI's adapter lookup (slow); bind '' and let SQLite turn it
            # back into NULL, unless '' is a real value of this column
            if _ctype(table, c) != "text" or not (a[~na] == "").any():
                a[na] = ""
                mark = "NULLIF(?, '')"
        names.append(c)
        marks.append(mark)
        arrays.append(a)
    # rows as one flat list in key order (row after row), bound BULK_VALUES rows per statement
    flat = [None] * (n * len(arrays))
    for j, a in enumerate(arrays):
        flat[j::len(arrays)] = (a if perm is None else a[perm]).tolist()
    names.append("batch_id")
    marks.append(str(int(bid)))
    k = len(arrays)
    one = f"({', '.join(marks)})"
    head = f"INSERT INTO {tname} ({', '.join(names)}) VALUES "
    per = max(1, min(BULK_VALUES, 30000 // max(k, 1)))
    full = (n - 1) // per  # the first row goes alone, then full statements, then the rest
    step = per * k
    cur = conn.connection.driver_connection.cursor()
    try:
        # the first row with the aggregates' trigger in place: it marks them dirty, once
        cur.execute(head + one, flat[:k])
        triggers = _agg_triggers(conn, tname)
        indexes = []
        if n * 2 > top:  # rebuilding an index costs more than adding to it when the table is big
            indexes = sqlite_indexes(conn, (tname,))
        for n_, _ in triggers:
            cur.execute(f'DROP TRIGGER "{n_}"')
        for n_, _ in indexes:
            cur.execute(f'DROP INDEX "{n_}"')
        # CHECK constraints once over the new rows afterwards (one scan) instead of per
        # inserted row (about twice the cost); any violation refuses the whole file as before
        cur.execute("PRAGMA ignore_check_constraints = ON")
        try:
            if full:
                cur.executemany(head + ", ".join([one] * per),
                                (flat[i:i + step] for i in range(k, k + full * step, step)))
            rest = n - 1 - full * per
            if rest:
                cur.execute(head + ", ".join([one] * rest), flat[k + full * step:])
        finally:
            cur.execute("PRAGMA ignore_check_constraints = OFF")
        _verify_checks(cur, table, top)
        for _, q in indexes:
            cur.execute(q)
        for _, q in triggers:
            cur.execute(q)
    finally:
        cur.close()


def _verify_checks(cur, table: sa.Table, top: int) -> None:
    """Raise IntegrityError, as the insert would have, if a row above id ``top`` breaks one of
    the table's CHECK constraints (a check fails when false; NULL passes, as in SQL)."""
    import sqlite3
    checks = [(c.name, str(c.sqltext)) for c in table.constraints if isinstance(c, sa.CheckConstraint)]
    if not checks:
        return
    fails = " OR ".join(f"NOT ({e})" for _, e in checks)
    bad = cur.execute(f"SELECT id FROM {table.name} WHERE id > ? AND ({fails}) LIMIT 1",
                      (int(top),)).fetchone()
    if bad is None:
        return
    for name, e in checks:
        if cur.execute(f"SELECT 1 FROM {table.name} WHERE id = ? AND NOT ({e})", bad).fetchone():
            raise sa.exc.IntegrityError(f"INSERT INTO {table.name}", None, sqlite3.IntegrityError(
                f"CHECK constraint failed: {name if isinstance(name, str) else e}"))


def _copy_insert(conn, cols: list[str], table: str, rows) -> None:
    """PostgreSQL bulk loads: COPY ... FROM STDIN (psycopg 3), in the caller's transaction."""
    cur = conn.connection.driver_connection.cursor()
    try:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
    finally:
        cur.close()


def _arrow_column(s: pd.Series | None, kind: str, n: int):
    """One column as an Arrow array of the database's type (None: all NULL)."""
    import pyarrow as pa
    if s is None:
        return pa.nulls(n)
    if kind == "date":
        if not pd.api.types.is_datetime64_any_dtype(s.dtype):
            s = pd.to_datetime(s.astype(object), errors="coerce")
        days = s.to_numpy(dtype="datetime64[D]")
        return pa.array(days.view("int64").astype("int32"), mask=np.isnat(days), type=pa.date32())
    if kind in ("int", "float"):
        v = _floats(s)
        na = np.isnan(v)
        if kind == "int":
            return pa.array(np.where(na, 0, np.round(v)).astype("int64"), mask=na)
        return pa.array(v, mask=na)
    return pa.array(s.astype(object).to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def _copy_insert_csv(conn, table: sa.Table, ins: pd.DataFrame, cols: list[str], bid: int) -> bool:
    """PostgreSQL bulk loads, the fast way: the columns as Arrow arrays, written as CSV by
    pyarrow (NULL unquoted and empty, every string quoted, so '' stays '') and sent by one
    ``COPY ... FROM STDIN (FORMAT csv)`` in the caller's transaction: no Python object per
    value. False (nothing sent) when a column does not convert; the caller then takes the
    row-by-row COPY."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    n = len(ins)
    try:
        arrays = [_arrow_column(ins[c] if c in ins else None, _ctype(table, c), n) for c in cols]
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError):
        return False
    arrays.append(pa.array(np.full(n, int(bid), dtype="int64")))
    names = cols + ["batch_id"]
    tbl = pa.table(arrays, names=names)
    opts = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    cur = conn.connection.driver_connection.cursor()
    try:
        with cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN (FORMAT csv)") as cp:
            for batch in tbl.to_batches(max_chunksize=100_000):
                buf = pa.BufferOutputStream()
                pacsv.write_csv(batch, buf, opts)
                cp.write(buf.getvalue().to_pybytes())
    finally:
        cur.close()
    return True


def _before_json(old: pd.DataFrame, cols: list[str], table: sa.Table) -> list[str]:
    kinds = {c: _ctype(table, c) for c in cols}
    out = []
    for rec in old[cols + ["batch_id"]].to_dict("records"):
        d = {c: _json_value(rec[c], kinds[c]) for c in cols}
        d["batch_id"] = _json_value(rec["batch_id"], "int")
        out.append(json.dumps(d, ensure_ascii=False))
    return out


def _split(prep, table, new: pd.DataFrame, match_id: np.ndarray, old_cols: list[str],
           conn, insert_cols: list[str], existing: pd.DataFrame | None = None) -> dict:
    """Given db ids for matched rows (NaN for new), build the insert/update plan.

    ``existing`` (with id, every provided column and batch_id) saves a second query."""
    matched = ~np.isnan(match_id)
    ins = new[~matched].reset_index(drop=True)
    m = new[matched].reset_index(drop=True)
    ids = match_id[matched].astype("int64")
    upd_cols = [c for c in prep.provided if c in table.c and c != "id"]
    if len(m):
        if existing is not None:
            old = existing
        else:
            old = _load_by_ids(conn, table, ids, upd_cols + ["batch_id"])
        old = old.set_index("id").loc[ids].reset_index()
        changed = _diff(m, old, upd_cols, table)
    else:
        old = pd.DataFrame(columns=["id"] + upd_cols + ["batch_id"])
        changed = np.zeros(0, dtype=bool)
    upd = m[changed].reset_index(drop=True)
    upd["id"] = ids[changed]
    old_changed = old[changed].reset_index(drop=True)
    before = _before_json(old[changed].reset_index(drop=True), upd_cols, table) if changed.any() else []
    return {"table": table, "insert": ins, "insert_cols": insert_cols, "update": upd,
            "update_cols": upd_cols, "before": before, "unchanged": int((~changed).sum()),
            "matched_ids": ids, "old_changed": old_changed}


def _load_by_ids(conn, table, ids: np.ndarray, cols: list[str]) -> pd.DataFrame:
    out = []
    uniq = sorted(set(int(i) for i in ids))
    for k in range(0, len(uniq), 20000):
        chunk = uniq[k:k + 20000]
        out.append(_existing(conn, table, ["id"] + cols, table.c.id.in_(chunk)))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["id"] + cols)


def _ledger_cols(kind: str, table: sa.Table) -> list[str]:
    cols = ["village_id"]
    for f in spec.fields(kind):
        if f.name in table.c:
            cols.append(f.name)
    if "grid_id" in table.c:
        cols.append("grid_id")
    return cols


def _plan_ledger(conn, prep, reg, kind):
    table = TABLE_OBJ[spec.TABLES[kind]]
    key = spec.RECORD_NO[kind]
    new = prep.frame
    vids = sorted(set(int(v) for v in new["village_id"].dropna().unique()))
    want = ["id", "village_id", key] + [c for c in prep.provided if c in table.c
                                        and c not in ("id", "village_id", key)] + ["batch_id"]
    old = pd.DataFrame(columns=want)
    if vids:
        old = _existing(conn, table, want, table.c.village_id.in_(vids))
    if len(old):
        idx = pd.MultiIndex.from_arrays([old["village_id"].astype("int64"), old[key].astype(str)])
        lookup = pd.Series(old["id"].to_numpy(dtype="float64"), index=idx)
        probe = pd.MultiIndex.from_arrays([new["village_id"].astype("int64"), new[key].astype(str)])
        match = lookup.reindex(probe).to_numpy(dtype="float64")
    else:
        match = np.full(len(new), np.nan)
    plan = _split(prep, table, new, match, [], conn, _ledger_cols(kind, table), existing=old)
    plan["order"] = ["village_id", key]
    perm = getattr(prep, "key_order", None)
    if perm is not None and len(perm) == len(new):  # validation sorted the rows already
        fresh = np.isnan(match)
        plan["insert_order"] = (np.cumsum(fresh) - 1)[perm[fresh[perm]]]
    return plan


def _name_clashes(prep, kind, new: pd.DataFrame, match: np.ndarray, existing: pd.DataFrame,
                  parent: str) -> list[Problem]:
    """Rows whose (parent, name) after this file would equal another row's: renames included."""
    final: dict[int, tuple] = {int(i): (int(p), str(n)) for i, p, n in
                               zip(existing["id"], existing[parent], existing["name"])}
    mine: dict[tuple, list[int]] = {}
    for i, (mid, p, n) in enumerate(zip(match, new[parent], new["name"])):
        if n is None or (isinstance(n, float) and np.isnan(n)):
            continue
        key = (int(p), str(n))
        if not np.isnan(mid):
            final.pop(int(mid), None)
        mine.setdefault(key, []).append(i)
    taken = set(final.values())
    out = []
    for key, rows in mine.items():
        if key in taken:
            for i in rows:
                out.append(Problem(int(new["_row"].iloc[i]), _header(prep, kind, "name"), key[1],
                                   "name_taken"))
    return out


def _header(prep, kind: str, field: str) -> str:
    """The column as written in the file for a field (or its catalogue label)."""
    for c in prep.columns:
        if c.get("field") == field and c.get("how") in ("alias", "manual"):
            return c["column"]
    from dashboard.i18n import t
    return t(f"loader.field.{kind}.{field}", "zh")


def _plan_grids(conn, prep, reg, kind):
    table = S.grid
    new = prep.frame.copy()
    g = reg.grids
    by_code = dict(zip(g["code"].astype(str), g["id"].astype(float)))
    by_name = {(int(v), str(n)): float(i) for v, n, i in zip(g["village_id"], g["name"], g["id"])}
    vcode = dict(zip(reg.villages["id"].astype(int), reg.villages["code"]))
    match = np.full(len(new), np.nan)
    problems = []
    used_codes = set(g["code"].astype(str))
    codes = new["code"].tolist() if "code" in new else [None] * len(new)
    names = new["name"].tolist()
    new_codes = []
    for i, (vid, nm, cd) in enumerate(zip(new["village_id"], names, codes)):
        vid = int(vid)
        hit = by_code.get(str(cd)) if cd else None
        if hit is None and nm:
            hit = by_name.get((vid, str(nm)))
        if hit is not None:
            match[i] = hit
            gid = int(hit)
            row = g[g["id"] == gid].iloc[0]
            if int(row["village_id"]) != vid:
                problems.append(Problem(int(new["_row"].iloc[i]), _header(prep, kind, "code"), str(cd),
                                        "grid_code_other_village"))
            if not nm:
                names[i] = row["name"]
            if not cd:
                codes[i] = row["code"]
            elif str(cd) != str(row["code"]) and str(cd) in used_codes:
                problems.append(Problem(int(new["_row"].iloc[i]), _header(prep, kind, "code"), str(cd), "code_taken"))
            new_codes.append(codes[i])
            continue
        if not nm:
            problems.append(Problem(int(new["_row"].iloc[i]), _header(prep, kind, "name"), "", "required"))
            new_codes.append(cd)
            continue
        if not cd:
            canon_ = N.grid_canon(str(nm))
            base = vcode.get(vid) or f"V{vid}"
            num = canon_[1:-2] if canon_.startswith("第") and canon_.endswith("网格") else ""
            cd = f"{base}{int(num):02d}" if num.isdigit() and vcode.get(vid) else \
                f"{base}-" + hashlib.sha1(str(nm).encode()).hexdigest()[:8]
            k = 2
            while cd in used_codes:
                cd = f"{cd[:28]}-{k}"
                k += 1
        elif str(cd) in used_codes:
            problems.append(Problem(int(new["_row"].iloc[i]), _header(prep, kind, "code"), str(cd), "code_taken"))
        used_codes.add(str(cd))
        codes[i] = cd
        new_codes.append(cd)
    new["code"] = pd.Series(codes, dtype=object)
    new["name"] = pd.Series(names, dtype=object)
    prep.provided = sorted(set(prep.provided) | {"name"})
    problems += _name_clashes(prep, kind, new, match, g, "village_id")
    if problems:
        return {"problems": problems}
    cols = [c for c in ("village_id", "code", "name", "leader", "workers", "households", "geometry",
                        "minx", "miny", "maxx", "maxy") if c in new.columns]
    return _split(prep, table, new, match, [], conn, cols)


def _free_township_code(conn, want: str) -> str:
    """``want`` (the villages' 9-digit prefix + 000), or the next unused code after it: two
    townships imported without codes must not collide on 000000000000."""
    taken = set(conn.execute(sa.select(S.township.c.code)).scalars())
    code, k = want, 0
    while code in taken:
        k += 1
        code = f"{want[:9]}{k:03d}" if k < 1000 else f"{int(want) + k:012d}"[-12:]
    return code


def _plan_villages(conn, prep, reg, kind):
    table = S.village
    new = prep.frame.copy()
    problems = []
    pre = []
    tws = reg.townships
    # which township each row belongs to
    if not tws or (len(tws) == 1 and tws[0].get("id") is None):  # a township to create
        codes = [c for c in new.get("code", pd.Series(dtype=object)).dropna().tolist()]
        names = [x for x in new["township"].dropna().tolist()] if "township" in new else []
        from dashboard.i18n import t
        tname = tws[0]["name"] if tws else names[0] if names else t("loader.default_township", "zh")
        tcode = _free_township_code(conn, (codes[0][:9] + "000") if codes else "000000000000")
        tid = townships.insert(conn, tname[:townships.NAME_MAX], tcode)
        pre.append(("township", tid))
        tws = [{"id": tid, "code": tcode, "name": tname}]
        new["township_id"] = tid
    elif len(tws) == 1:
        new["township_id"] = tws[0]["id"]
    else:
        by_code = {str(tw["code"])[:9]: tw["id"] for tw in tws}
        by_name = {tw["name"]: tw["id"] for tw in tws}
        tid = []
        for i, (cd, tn) in enumerate(zip(new.get("code", [None] * len(new)), new["township"])):
            hit = by_code.get(str(cd)[:9]) if cd else None
            hit = hit or (by_name.get(tn) if tn else None)
            if hit is None:
                problems.append(Problem(int(new["_row"].iloc[i]), _header(prep, kind, "township"), tn or "",
                                        "which_township"))
            tid.append(hit)
        new["township_id"] = tid
    if problems:
        return {"problems": problems}
    v = reg.villages
    by_code = {str(c): float(i) for c, i in zip(v["code"], v["id"]) if c}
    by_name = {(int(t_), str(n)): float(i) for t_, n, i in zip(v["township_id"], v["name"], v["id"])}
    code_of = {float(i): c for c, i in zip(v["code"], v["id"])}
    match = np.full(len(new), np.nan)
    codes = new["code"].tolist() if "code" in new else [None] * len(new)
    for i, (nm, cd, tid) in enumerate(zip(new["name"], codes, new["township_id"])):
        hit = by_code.get(str(cd)) if cd else None
        if hit is None:
            hit = by_name.get((int(tid), str(nm)))
            if hit is not None and cd and code_of.get(hit) and code_of[hit] != cd and \
                    str(cd) in by_code:
                problems.append(Problem(int(new["_row"].iloc[i]), _header(prep, kind, "code"), str(cd), "code_taken"))
            elif hit is None and cd and str(cd) in by_code:
                problems.append(Problem(int(new["_row"].iloc[i]), _header(prep, kind, "code"), str(cd), "code_taken"))
        if hit is not None:
            match[i] = hit
    problems += _name_clashes(prep, kind, new, match, v, "township_id")
    if problems:
        return {"problems": problems}
    prep.provided = sorted(set(prep.provided) | {"township_id"})
    cols = [c for c in ("township_id", "name", "code", "kind", "households", "population",
                        "party_members", "geometry", "minx", "miny", "maxx", "maxy")
            if c in new.columns]
    plan = _split(prep, table, new, match, [], conn, cols)
    plan["pre_inserted"] = pre
    return plan


# ---------------------------------------------------------------- undo and history

def undo(conn, batch_id: int, username: str, allowed: set[int] | None) -> dict:
    b = conn.execute(sa.select(S.import_batch).where(S.import_batch.c.id == batch_id)).mappings().first()
    if b is None:
        raise Refusal("no_batch", value=str(batch_id))
    if b["state"] != "applied":
        raise Refusal("already_undone", value=str(batch_id))
    if b["kind"] == "demo":
        raise Refusal("undo_demo", value=str(batch_id))
    if allowed is not None and (b["village_id"] is None or int(b["village_id"]) not in allowed):
        raise Refusal("undo_not_allowed", value=str(batch_id))
    bc = S.batch_change
    later = bc.alias("later")
    ib = S.import_batch
    clash = conn.execute(
        sa.select(sa.func.min(later.c.batch_id))
        .select_from(bc.join(later, sa.and_(bc.c.table_name == later.c.table_name,
                                            bc.c.row_id == later.c.row_id))
                     .join(ib, ib.c.id == later.c.batch_id))
        .where(bc.c.batch_id == batch_id, later.c.batch_id > batch_id, ib.c.state == "applied")
    ).scalar()
    if clash is not None:
        raise Refusal("undo_later_batch", value=str(batch_id), later=str(clash))
    ledger = spec.TABLES[b["kind"]] if b["kind"] in spec.LEDGER_KINDS else None
    # a bulk ledger load recorded its updates but not its inserts: those are its rows that still
    # carry its batch_id once the updates are restored
    unrecorded = ledger is not None and _unrecorded_inserts(conn, batch_id, ledger, b["inserted"])
    if unrecorded:
        clash = _later_overwrote(conn, batch_id, ledger)
        if clash is not None:
            raise Refusal("undo_later_batch", value=str(batch_id), later=str(clash))
    _check_references(conn, batch_id)
    scope = None
    if ledger is not None:
        from dashboard import aggregates
        scope = aggregates.touched(conn, batch_id)  # before anything changes
        if unrecorded:
            scope = _with_batch_rows(conn, batch_id, ledger, scope)
    changes = conn.execute(sa.select(bc.c.table_name, bc.c.row_id, bc.c.before)
                           .where(bc.c.batch_id == batch_id, bc.c.before.is_not(None))).all()
    restored = 0
    by_table: dict[str, list] = {}
    for tname, rid, before in changes:
        by_table.setdefault(tname, []).append((rid, json.loads(before)))
    for tname, items in by_table.items():
        table = TABLE_OBJ[tname]
        gone = [(rid, d) for rid, d in items if d.pop("_deleted", False)]
        if gone:  # rows the batch removed (a ledger's missing rows): back with their ids
            conn.execute(sa.insert(table), [
                {"id": rid, **{c: _from_json(v, _ctype(table, c)) for c, v in d.items()}}
                for rid, d in gone])
            restored += len(gone)
            back = {rid for rid, _ in gone}
            items = [(rid, d) for rid, d in items if rid not in back]
        groups: dict[tuple, list] = {}
        for rid, d in items:
            groups.setdefault(tuple(sorted(d)), []).append((rid, d))
        for cols, rows in groups.items():
            stmt = sa.update(table).where(table.c.id == sa.bindparam("_id")).values(
                {c: sa.bindparam("_v_" + c) for c in cols})
            params = [{"_id": rid, **{"_v_" + c: _from_json(d[c], _ctype(table, c)) for c in cols}}
                      for rid, d in rows]
            conn.execute(stmt, params)
            restored += len(rows)
    deleted = 0
    if unrecorded:
        table = TABLE_OBJ[ledger]
        deleted += conn.execute(sa.delete(table).where(table.c.batch_id == batch_id)).rowcount or 0
    for tname in DELETE_ORDER:
        table = TABLE_OBJ[tname]
        sub = sa.select(bc.c.row_id).where(bc.c.batch_id == batch_id, bc.c.table_name == tname,
                                            bc.c.before.is_(None))
        res = conn.execute(sa.delete(table).where(table.c.id.in_(sub)))
        deleted += res.rowcount or 0
    conn.execute(sa.update(S.import_batch).where(S.import_batch.c.id == batch_id)
                 .values(state="undone"))
    if scope is not None and scope[0]:
        from dashboard import aggregates
        aggregates.refresh(conn, *scope)
    conn.execute(sa.insert(S.audit_log).values(
        at=datetime.now(), username=username or "system", action="undo_import", ok=True,
        detail=json.dumps({"batch_id": batch_id, "deleted": deleted, "restored": restored})))
    bump_version(conn)
    return {"batch_id": batch_id, "deleted": deleted, "restored": restored, "kind": b["kind"]}


def _unrecorded_inserts(conn, batch_id: int, tname: str, inserted: int) -> bool:
    """True when the batch inserted more rows into tname than batch_change lists."""
    if not inserted:
        return False
    bc = S.batch_change
    n = conn.execute(sa.select(sa.func.count()).select_from(bc).where(
        bc.c.batch_id == batch_id, bc.c.table_name == tname, bc.c.before.is_(None))).scalar_one()
    return n < int(inserted)


def _later_overwrote(conn, batch_id: int, tname: str) -> int | None:
    """The first later applied batch that updated a row this batch wrote (its ``before`` names
    this batch), or None."""
    was = f"{json_text(conn, 'bc.before', 'batch_id')} = CAST(:b AS text)"
    return conn.execute(sa.text(
        f"SELECT MIN(bc.batch_id) FROM batch_change bc JOIN import_batch ib ON ib.id = bc.batch_id "
        f"WHERE bc.batch_id > :b AND ib.state = 'applied' AND bc.table_name = :t "
        f"AND bc.before IS NOT NULL AND {was}"), {"b": int(batch_id), "t": tname}).scalar()


def _with_batch_rows(conn, batch_id: int, tname: str, scope):
    """aggregates.touched's (villages, months) plus those of the rows carrying the batch's id."""
    from dashboard import aggregates
    vids, months = scope
    vids = set(vids)
    table = TABLE_OBJ[tname]
    dcol = table.c[aggregates.DATE_COLUMN[tname]]
    mine = table.c.batch_id == batch_id
    vids |= {int(v) for (v,) in conn.execute(sa.select(table.c.village_id).where(mine).distinct())}
    if months is not None:
        months = set(months) | {aggregates.month_index(d) for (d,) in
                                conn.execute(sa.select(dcol).where(mine).distinct()) if d is not None}
    return vids, months


def _check_references(conn, batch_id: int):
    """Refuse to delete villages/grids/townships that rows outside this batch still use."""
    bc = S.batch_change
    ins = {}
    for tname in ("township", "village", "grid"):
        ins[tname] = sa.select(bc.c.row_id).where(bc.c.batch_id == batch_id,
                                                  bc.c.table_name == tname, bc.c.before.is_(None))
    checks = [
        (S.village, S.village.c.township_id, "township"),
        (S.grid, S.grid.c.village_id, "village"),
        (S.dispute, S.dispute.c.village_id, "village"),
        (S.volunteer_activity, S.volunteer_activity.c.village_id, "village"),
        (S.rep_visit, S.rep_visit.c.village_id, "village"),
        (S.suggestion, S.suggestion.c.village_id, "village"),
        (S.user_scope, S.user_scope.c.village_id, "village"),
        (S.zero_report, S.zero_report.c.village_id, "village"),
        (S.dispute, S.dispute.c.grid_id, "grid"),
        (S.volunteer_activity, S.volunteer_activity.c.grid_id, "grid"),
    ]
    for child, fk, parent in checks:
        q = sa.select(sa.func.count()).select_from(child).where(fk.in_(ins[parent]))
        if child.name in ("village", "grid"):
            own = sa.select(bc.c.row_id).where(bc.c.batch_id == batch_id,
                                               bc.c.table_name == child.name, bc.c.before.is_(None))
            q = q.where(child.c.id.not_in(own))
        n = conn.execute(q).scalar_one()
        if n:
            raise Refusal("undo_referenced", value=str(batch_id), n=n, table=child.name)


def batches(conn, village_ids: set[int] | None = None, limit: int = 50,
            kind: str | None = None, township_ids=None) -> list[dict]:
    """Batches newest first: of ``village_ids`` (None: all), and with ``township_ids`` also the
    files placed in those townships without one village (a township's whole ledger)."""
    ib = S.import_batch
    q = (sa.select(ib.c.id, ib.c.kind, ib.c.file_name, ib.c.sha256, ib.c.village_id,
                   S.village.c.name.label("village"), ib.c.username, ib.c.created_at,
                   ib.c.rows_read, ib.c.inserted, ib.c.updated, ib.c.unchanged, ib.c.state)
         .select_from(ib.outerjoin(S.village, S.village.c.id == ib.c.village_id))
         .order_by(ib.c.id.desc()).limit(limit))
    q = q.where(uploads.batch_scope(village_ids, township_ids))
    if kind:
        q = q.where(ib.c.kind == kind)
    return [dict(r) for r in conn.execute(q).mappings()]
