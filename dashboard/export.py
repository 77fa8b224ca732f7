"""Table downloads for every page: Excel and CSV, safe to open in Excel or WPS.

A cell whose text begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to a spreadsheet (CSV/formula injection: a village name
typed as ``=HYPERLINK(...)`` would run when a clerk opens the file). Such text
cells get a leading apostrophe, the convention OWASP recommends and Excel shows
as plain text. Numbers are left alone: ``-3`` stays the number −3.

CSV is UTF-8 with a byte-order mark so that Excel on Chinese Windows opens
Chinese headers correctly instead of guessing GBK.
"""
from __future__ import annotations

import io
import numbers

import pandas as pd

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A cell value made inert: text starting with a formula character gets a leading '."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with text cells, column names and index labels neutralised."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
                or pd.api.types.is_datetime64_any_dtype(s)):
            out[col] = s.map(lambda v: v if isinstance(v, numbers.Number) else neutralise(v))
    out.columns = [neutralise(str(c)) if isinstance(c, str) else c for c in out.columns]
    if not pd.api.types.is_numeric_dtype(out.index):
        out.index = pd.Index([neutralise(v) for v in out.index], name=out.index.name)
    return out


def _keep_index(df: pd.DataFrame, index: bool | None) -> bool:
    if index is not None:
        return index
    # a default RangeIndex carries no information; a labelled index (e.g. rank 1..n) does
    return not isinstance(df.index, pd.RangeIndex) or df.index.name is not None


def table_to_csv(df: pd.DataFrame, index: bool | None = None) -> bytes:
    """CSV bytes, UTF-8 with BOM, formula cells neutralised."""
    # CRLF as Excel writes it; it also makes the csv module quote a cell holding a bare \r
    return safe_frame(df).to_csv(index=_keep_index(df, index), lineterminator="\r\n").encode("utf-8-sig")


def table_to_xlsx(df: pd.DataFrame, sheet_name: str = "Sheet1", index: bool | None = None) -> bytes:
    """An .xlsx workbook with one sheet; text written as strings, never as formulas."""
    buf = io.BytesIO()
    safe = safe_frame(df)
    with pd.ExcelWriter(buf, engine="xlsxwriter",
                        engine_kwargs={"options": {"strings_to_formulas": False,
                                                   "strings_to_urls": False}}) as xw:
        name = (sheet_name or "Sheet1")[:31]
        for ch in "[]:*?/\\":
            name = name.replace(ch, "_")
        safe.to_excel(xw, sheet_name=name, index=_keep_index(df, index))
        ws = xw.sheets[name]
        shown = safe.reset_index() if _keep_index(df, index) else safe
        for i, col in enumerate(shown.columns):
            width = max([len(str(col))] + [len(str(v)) for v in shown[col].head(200)])
            ws.set_column(i, i, min(40, max(8, width * 1.6)))
    return buf.getvalue()


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
