"""The one exporter: every CSV and XLSX byte that leaves the server is made here.

Pages, the meeting report and the upload problem list all call :func:`table_to_csv` /
:func:`table_to_xlsx`; nothing else in dashboard/, pages/ or loaders/ writes CSV or Excel
(tests/test_export.py counts the writers).

Every download button is handed :func:`at_click` (through ``dashboard.ui.downloads``): its
file is made when the button is pressed, after a fresh check that the login that saw the page
is still valid (not logged out, expired, disabled or its password changed); otherwise no byte
is made.

A cell whose text begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to a spreadsheet (CSV/formula injection: a village name
typed as ``=HYPERLINK(...)`` would run when a clerk opens the file). So are their
full-width forms ``＝＋－＠``: a Chinese input method types them, and WPS and Excel
with East Asian settings turn them into the ASCII ones when a cell is edited. Such text
cells get a leading apostrophe, the convention OWASP recommends and Excel shows
as plain text. Numbers are left alone: ``-3`` stays the number −3. Headers, index
labels and their names are cells too.

CSV is UTF-8 with a byte-order mark so that Excel on Chinese Windows opens
Chinese headers correctly instead of guessing GBK.
"""
from __future__ import annotations

import io
import numbers

import pandas as pd

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


class DownloadRefused(Exception):
    """The login behind a download button is no longer valid at the click: nothing is made."""


def at_click(make, still_allowed):
    """The callable a download button is given: when pressed, ``still_allowed()`` (a fresh
    check of the login, e.g. against the database) and only then ``make()`` (the bytes).

    ``make`` may also be the bytes or text themselves (small files made with the page)."""
    def run():
        if not still_allowed():
            raise DownloadRefused("the login behind this download is no longer valid")
        return make() if callable(make) else make
    return run


def neutralise(value):
    """A cell value made inert: text starting with a formula character gets a leading '."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def _label(v):
    # a MultiIndex label is a tuple of labels
    return tuple(neutralise(x) for x in v) if isinstance(v, tuple) else neutralise(v)


def _safe_index(ix: pd.Index) -> pd.Index:
    names = [_label(n) for n in ix.names]
    if isinstance(ix, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([_label(v) for v in ix], names=names)
    if pd.api.types.is_numeric_dtype(ix) or pd.api.types.is_datetime64_any_dtype(ix):
        return ix.rename(names[0])
    return pd.Index([_label(v) for v in ix], name=names[0], dtype=object)


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with text cells, column names and index labels (and their names) neutralised."""
    out = df.copy()
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
                or pd.api.types.is_datetime64_any_dtype(s)):
            out.isetitem(i, s.astype(object).map(
                lambda v: v if isinstance(v, numbers.Number) else neutralise(v)))
    out.columns = _safe_index(out.columns)
    out.index = _safe_index(out.index)
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


def text_to_txt(text: str) -> bytes:
    """A plain-text download (a reminder to paste into a message): UTF-8 with BOM and CRLF line
    ends, so Notepad on Chinese Windows opens it as written."""
    return ("\r\n".join(str(text).splitlines()) + "\r\n").encode("utf-8-sig")


TXT_MIME = "text/plain"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
