"""Read: bytes -> a table of strings with the spreadsheet row number of every row.

CSV (UTF-8, UTF-8 with BOM, UTF-16 as Excel's "Unicode text", GBK/GB18030, detected),
.xlsx (first sheet with data, or a named sheet; zip bomb checked before openpyxl
opens it; formulas kept as their text, never evaluated), GeoJSON and zipped
Shapefiles (see loaders.geo). The header row is found, not assumed: title rows
above it and footers below are counted in the row numbers the clerk sees.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time

import numpy as np
import pandas as pd

from loaders import spec
from loaders.problems import Refusal

MAX_BYTES = 200 * 1024 * 1024          # Streamlit's default upload limit
MAX_XLSX_UNCOMPRESSED = 600 * 1024 * 1024
MAX_XLSX_RATIO = 150                   # uncompressed/compressed for a big member: a bomb
MAX_ZIP_MEMBERS = 5000
MAX_CELL = 32767                       # Excel's own cell limit
HEAD_ROWS = 60                         # rows searched for the header


@dataclass
class RawTable:
    frame: pd.DataFrame                # data rows below the header, columns 0..n-1, all str
    rownum: np.ndarray                 # spreadsheet row number of each frame row
    headers: list[str]                 # header cells as written, one per column
    header_row: int                    # spreadsheet row number of the header (1-based)
    fmt: str                           # csv | xlsx | geojson | shapefile
    encoding: str = ""
    sheet: str = ""
    sheets: list[str] = field(default_factory=list)
    title: str = ""                    # text above the header (may name the village)
    geometry: list | None = None       # shapely geometries for geo formats, one per row
    crs: str = ""


def file_format(data: bytes, file_name: str) -> str:
    name = (file_name or "").lower()
    head = data[:8]
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise Refusal("xls_old")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if name.endswith(".zip") or name.endswith(".shp.zip"):
            return "shapefile"
        return "xlsx"
    if name.endswith((".xlsx", ".xlsm")):
        raise Refusal("bad_xlsx")
    if name.endswith((".xls", ".et")):
        raise Refusal("xls_old")
    if name.endswith((".geojson", ".json")):
        return "geojson"
    if name.endswith(".zip"):
        raise Refusal("bad_zip")
    stripped = data.lstrip()[:1]
    if stripped == b"{" and b'"type"' in data[:4096]:
        return "geojson"
    return "csv"


# ---------------------------------------------------------------- text / CSV

def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name) or a refusal for binary junk."""
    if data.startswith(b"\xef\xbb\xbf"):
        enc, body = "utf-8-sig", data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc, body = "utf-16", data
    else:
        enc, body = "", data
    if enc == "utf-16":
        try:
            return body.decode("utf-16"), enc
        except UnicodeDecodeError:
            raise Refusal("not_text") from None
    if b"\x00" in body[:65536]:
        raise Refusal("not_text")
    try:
        text = body.decode("utf-8")
        enc = enc or "utf-8"
    except UnicodeDecodeError:
        try:
            text = body.decode("gb18030")
            enc = "gbk" if _is_gbk(body) else "gb18030"
        except UnicodeDecodeError:
            raise Refusal("not_text") from None
    sample = text[:65536]
    if sample:
        ctrl = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
        if ctrl > max(8, len(sample) // 200):
            raise Refusal("not_text")
    return text, enc


def _is_gbk(body: bytes) -> bool:
    try:
        body[:200000].decode("gbk")
        return True
    except UnicodeDecodeError:
        return False


def _delimiter(text: str) -> str:
    lines = [ln for ln in text[:65536].splitlines()[:HEAD_ROWS] if ln.strip()]
    best, score = ",", 0
    for d in (",", "\t", ";", "|"):
        counts = [ln.count(d) for ln in lines]
        s = sum(1 for c in counts if c > 0) * 10 + (max(counts) if counts else 0)
        if s > score:
            best, score = d, s
    return best


HEAD_BYTES = 2 * 1024 * 1024           # a big UTF-8 file is sniffed from this much of its head


def read_csv(data: bytes) -> RawTable:
    # A big UTF-8 file (the common case) is decoded only as far as the header search reads:
    # pyarrow checks that every cell is UTF-8 as it parses. Any doubt takes the full decode.
    quick = _utf8_head(data)
    if quick is not None:
        got = _read_csv(*quick, full=False)
        if got is not None:
            return got
    text, enc = decode(data)
    if not text.strip():
        raise Refusal("empty")
    if enc == "utf-8":
        utf8 = data
    elif enc == "utf-8-sig":
        utf8 = data[3:]
    else:
        utf8 = text.encode("utf-8")
    return _read_csv(text, enc, utf8, full=True)


def _utf8_head(data: bytes) -> tuple[str, str, bytes | memoryview] | None:
    """(decoded head, encoding, UTF-8 body) of a big file whose head is UTF-8, else None."""
    import codecs
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    bom = data.startswith(b"\xef\xbb\xbf")
    if len(data) <= 2 * HEAD_BYTES or b"\x00" in data[:65536 + 3]:
        return None
    try:
        head = codecs.getincrementaldecoder("utf-8")().decode(data[3 if bom else 0:HEAD_BYTES],
                                                                final=False)
    except UnicodeDecodeError:
        return None
    sample = head[:65536]
    ctrl = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    if ctrl > max(8, len(sample) // 200) or not head.strip():
        return None  # the full decode refuses it (or finds it empty)
    return head, ("utf-8-sig" if bom else "utf-8"), (memoryview(data)[3:] if bom else data)


def _read_csv(text: str, enc: str, utf8: bytes | memoryview, full: bool) -> RawTable | None:
    """``text`` is the whole file decoded (full) or its head; None: parse it the full way."""
    delim = _delimiter(text)
    head = _head_records(text, delim)
    hidx = find_header(head)
    width = max((len(r) for r in head), default=0)
    frame = _arrow_csv(utf8, hidx + 1, width, delim)
    if frame is None:
        if not full:
            return None
        rows = _python_csv(text, delim)
        width = max((len(r) for r in rows), default=0)
        body = rows[hidx + 1:]
        frame = pd.DataFrame([r + [""] * (width - len(r)) for r in body],
                             columns=range(width), dtype=str) if body else \
            pd.DataFrame({i: pd.Series([], dtype=str) for i in range(width)})
    headers = head[hidx] + [""] * (frame.shape[1] - len(head[hidx]))
    rownum = np.arange(hidx + 2, hidx + 2 + len(frame))
    title = " ".join(c.strip() for r in head[:hidx] for c in r if c.strip())
    return RawTable(frame=frame, rownum=rownum, headers=[h.strip() for h in headers],
                    header_row=hidx + 1, fmt="csv", encoding=enc, title=title)


def _head_records(text: str, delim: str) -> list[list[str]]:
    csv.field_size_limit(1 << 30)
    head_text = "\n".join(text[:262144].split("\n")[:HEAD_ROWS])
    try:
        return [list(r) for r in csv.reader(io.StringIO(head_text), delimiter=delim)][:HEAD_ROWS]
    except csv.Error:
        raise Refusal("not_csv") from None


def _arrow_csv(utf8: bytes | memoryview, skip: int, width: int, delim: str) -> pd.DataFrame | None:
    """Fast path (pyarrow, multi-threaded); None when the file needs the forgiving reader."""
    import pyarrow as pa
    import pyarrow.csv as pc
    if width <= 0:
        return None
    bad = []

    def on_bad(row):
        bad.append(1)
        return "skip"

    names = [str(i) for i in range(width)]
    try:
        tbl = pc.read_csv(
            pa.BufferReader(pa.py_buffer(utf8)),  # no copy of the file's bytes
            read_options=pc.ReadOptions(column_names=names, skip_rows=skip,
                                        block_size=max(1 << 22, min(len(utf8) + 1, 1 << 26))),
            parse_options=pc.ParseOptions(delimiter=delim, ignore_empty_lines=False,
                                          newlines_in_values=True, invalid_row_handler=on_bad),
            convert_options=pc.ConvertOptions(column_types={n: pa.string() for n in names},
                                              strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowException, ValueError):
        return None
    if bad:
        return None
    df = tbl.to_pandas()
    df.columns = range(width)
    return df


def _python_csv(text: str, delim: str) -> list[list[str]]:
    csv.field_size_limit(1 << 30)
    try:
        return [list(r) for r in csv.reader(io.StringIO(text), delimiter=delim)]
    except csv.Error:
        raise Refusal("not_csv") from None


# ---------------------------------------------------------------- header row

def _all_alias_index() -> tuple[dict[str, str], dict[str, str]]:
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for k in spec.KINDS:
        e, lo = spec.alias_index(k)
        for a, f in e.items():
            exact.setdefault(a, f)
        for a, f in lo.items():
            loose.setdefault(a, f)
    return exact, loose


_ALL = None


def header_score(cells: list[str]) -> int:
    global _ALL
    if _ALL is None:
        _ALL = _all_alias_index()
        _ALL = (_ALL[0], _ALL[1], {spec.norm_header(a) for v in spec.FOREIGN.values() for a in v})
    exact, loose, foreign = _ALL
    score = 0
    seen = set()
    for c in cells:
        n = spec.norm_header(c)
        if not n or n in seen or len(n) > 40:
            continue
        seen.add(n)
        if n in exact or (spec.strip_units(n) or n) in loose or n in foreign:
            score += 1
    return score


def find_header(rows: list[list[str]]) -> int:
    """Index (0-based) of the header row among the first rows; refuses when there is none."""
    best, best_i = 0, -1
    for i, r in enumerate(rows[:HEAD_ROWS]):
        s = header_score(r)
        if s > best:
            best, best_i = s, i
    if best_i < 0 or best < 2:
        nonblank = [r for r in rows if any(str(c).strip() for c in r)]
        if not nonblank:
            raise Refusal("empty")
        raise Refusal("no_header", value=" | ".join(
            str(c)[:20] for c in nonblank[0][:6] if str(c).strip()))
    return best_i


# ---------------------------------------------------------------- xlsx

def check_zip(data: bytes) -> zipfile.ZipFile:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise Refusal("bad_xlsx") from None
    if len(infos) > MAX_ZIP_MEMBERS:
        raise Refusal("zip_bomb")
    total = 0
    for i in infos:
        total += i.file_size
        if i.file_size > 10 * 1024 * 1024 and i.file_size > MAX_XLSX_RATIO * max(i.compress_size, 1):
            raise Refusal("zip_bomb")
    if total > MAX_XLSX_UNCOMPRESSED:
        raise Refusal("zip_bomb")
    return z


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v)


def read_xlsx(data: bytes, sheet: str | None = None) -> RawTable:
    z = check_zip(data)
    names = set(z.namelist())
    if "xl/workbook.xml" not in names:
        if any(n.startswith("word/") for n in names):
            raise Refusal("docx")
        raise Refusal("bad_xlsx")
    import openpyxl
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # openpyxl raises many types on damaged files
        raise Refusal("bad_xlsx") from None
    try:
        sheets = list(wb.sheetnames)
        if sheet:
            if sheet not in sheets:
                raise Refusal("no_sheet", value=sheet, sheets="、".join(sheets))
            order = [sheet]
        else:
            order = sheets
        chosen, rows = None, None
        for name in order:
            ws = wb[name]
            try:
                ws.reset_dimensions()
            except AttributeError:
                pass
            got = []
            filled = 0
            for r in ws.iter_rows(values_only=True):
                cells = [_cell(v) for v in r]
                got.append(cells)
                if any(c.strip() for c in cells):
                    filled += 1
            if filled >= 2 or sheet:
                chosen, rows = name, got
                break
        if chosen is None:
            raise Refusal("empty")
    except Refusal:
        raise
    except Exception:
        raise Refusal("bad_xlsx") from None
    finally:
        wb.close()
    # trailing empty rows are noise
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    hidx = find_header(rows)
    width = max((len(r) for r in rows), default=0)
    body = [r + [""] * (width - len(r)) for r in rows[hidx + 1:]]
    frame = pd.DataFrame(body, columns=range(width), dtype=str) if body else \
        pd.DataFrame({i: pd.Series([], dtype=str) for i in range(width)})
    headers = [h.strip() for h in rows[hidx] + [""] * (width - len(rows[hidx]))]
    title = " ".join(c.strip() for r in rows[:hidx] for c in r if c.strip())
    return RawTable(frame=frame, rownum=np.arange(hidx + 2, hidx + 2 + len(frame)),
                    headers=headers, header_row=hidx + 1, fmt="xlsx", sheet=chosen,
                    sheets=sheets, title=title)


def read(data: bytes, file_name: str, sheet: str | None = None) -> RawTable:
    if data is None or len(data) == 0:
        raise Refusal("empty")
    if len(data) > MAX_BYTES:
        raise Refusal("too_big", mb=MAX_BYTES // (1024 * 1024))
    fmt = file_format(data, file_name)
    if fmt == "xlsx":
        return read_xlsx(data, sheet)
    if fmt in ("geojson", "shapefile"):
        from loaders import geo
        return geo.read(data, fmt)
    return read_csv(data)
