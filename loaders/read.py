"""Read: bytes -> a table of strings with the spreadsheet row number of every row.

CSV (UTF-8, UTF-8 with BOM, UTF-16 as Excel's "Unicode text", GBK/GB18030, detected),
.xlsx (zip bomb checked before openpyxl opens it; read sparsely, formulas kept as
their text, never evaluated), .xls (Excel 97-2003) and .ods (python-calamine, in a child
process under a memory limit), GeoJSON and zipped Shapefiles (see loaders.geo). A workbook
is read sheet by sheet: every sheet of the chosen (or detected) kind, notes sheets skipped;
its size is bounded by the filled cells, never by the dimensions it declares. The header row is found, not assumed: title rows
above it and footers below are counted in the row numbers the clerk sees.
"""
from __future__ import annotations

import csv
import io
import re
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
    fmt: str                           # csv | xlsx | xls | ods | geojson | shapefile
    encoding: str = ""
    sheet: str = ""
    sheets: list[str] = field(default_factory=list)
    title: str = ""                    # text above the header (may name the village)
    geometry: list | None = None       # shapely geometries for geo formats, one per row
    crs: str = ""
    sheets_read: list[str] = field(default_factory=list)      # in SHEET_ROW_STRIDE order
    sheets_skipped: list[dict] = field(default_factory=list)  # {sheet, reason, ...}

    @property
    def multi_sheet(self) -> bool:
        return len(self.sheets_read) > 1


def file_format(data: bytes, file_name: str) -> str:
    name = (file_name or "").lower()
    head = data[:8]
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # OLE2: Excel 97-2003 (.xls) or WPS .et
        return "xls"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if name.endswith(".zip") or name.endswith(".shp.zip"):
            return "shapefile"
        if data[30:38] == b"mimetype" and b"opendocument.spreadsheet" in data[38:120]:
            return "ods"
        if name.endswith(".ods"):
            return "ods"
        return "xlsx"
    if name.endswith((".xlsx", ".xlsm")):
        raise Refusal("bad_xlsx")
    if name.endswith((".xls", ".et")):
        raise Refusal("bad_xls")
    if name.endswith(".ods"):
        raise Refusal("bad_ods")
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

def check_zip(data: bytes, bad: str = "bad_xlsx") -> zipfile.ZipFile:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise Refusal(bad) from None
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


# A ledger has a dozen columns; a sheet whose filled cells spread over more than this many
# columns, or a workbook with more filled cells than this, is refused before any table is
# built. Only filled cells are kept (a cell in column XFD is one cell, not 16,384).
MAX_COLUMNS = 256
MAX_CELLS = 6_000_000
MAX_SHEETS = 200
CHILD_MEMORY_MB = 512                  # address space of the .xls/.ods reading process
CHILD_TIMEOUT_S = 120
# Rows of several sheets read together are numbered sheet * SHEET_ROW_STRIDE + row, so that
# every problem still names one spreadsheet row; split_row() turns it back.
SHEET_ROW_STRIDE = 10_000_000
# Sheets that explain rather than hold data (templates' rules and drop-down lists, notes).
NOTES_SHEET_RE = re.compile(r"(说明|须知|注意事项|填表|填写|规则|选项|下拉|字典|代码表|目录|封面|示例"
                            r"|instruction|readme|note|rule|list|option|help)", re.IGNORECASE)


@dataclass
class Sheet:
    """One worksheet, sparse: only rows with a filled cell, columns narrowed to those used."""
    name: str
    rows: list[list[str]]
    rownums: list[int]
    problem: Refusal | None = None     # why it cannot be read (too big...)


def split_row(r: int | None) -> tuple[int, int | None]:
    """(sheet position, spreadsheet row) of a row number from a table of several sheets."""
    if r is None:
        return 0, None
    return int(r) // SHEET_ROW_STRIDE, int(r) % SHEET_ROW_STRIDE


def _sheet(name: str, cells, budget: list[int]) -> Sheet:
    """cells: (row, [(column, value)]) in row order, 1-based; ``budget`` is shared by the book."""
    sparse: list[tuple[int, list[tuple[int, str]]]] = []
    cols: set[int] = set()
    for r, row in cells:
        vals = []
        for c, v in row:
            if v is None:
                continue
            s = _cell(v)
            if s.strip():
                vals.append((c, s))
        if not vals:
            continue
        budget[0] -= len(vals)
        if budget[0] < 0:
            raise Refusal("too_many_cells", n=f"{MAX_CELLS:,}")
        cols.update(c for c, _ in vals)
        if len(cols) > MAX_COLUMNS:
            return Sheet(name, [], [], Refusal("too_many_columns", sheet=name, n=MAX_COLUMNS,
                                               value=_col_letter(max(cols))))
        sparse.append((int(r), vals))
    pos = {c: i for i, c in enumerate(sorted(cols))}
    width = len(pos)
    rows, nums = [], []
    for r, vals in sparse:
        row = [""] * width
        for c, s in vals:
            row[pos[c]] = s
        rows.append(row)
        nums.append(r)
    return Sheet(name, rows, nums)


def _col_letter(c: int) -> str:
    out = ""
    while c > 0:
        c, rem = divmod(c - 1, 26)
        out = chr(65 + rem) + out
    return out


def _xlsx_sheets(data: bytes, wanted: list[str] | None) -> tuple[list[str], list[Sheet]]:
    z = check_zip(data)
    names = set(z.namelist())
    if "xl/workbook.xml" not in names:
        if any(n.startswith("word/") for n in names):
            raise Refusal("docx")
        raise Refusal("bad_xlsx")
    import openpyxl
    # openpyxl's own worksheet parser yields each row's cells as written (sparse); its
    # iter_rows pads every row to the sheet's width and fills missing rows, which is what
    # turns one cell in column XFD into 16,384 per row. openpyxl is pinned exactly.
    from openpyxl.worksheet._reader import WorkSheetParser
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # openpyxl raises many types on damaged files
        raise Refusal("bad_xlsx") from None
    try:
        sheets = list(wb.sheetnames)
        if len(sheets) > MAX_SHEETS:
            raise Refusal("too_many_sheets", n=MAX_SHEETS)
        out, budget = [], [MAX_CELLS]
        for name in (wanted or sheets):
            if name not in sheets:
                continue  # read_book names the missing sheet
            ws = wb[name]

            def cells(ws=ws):
                with ws._get_source() as src:
                    parser = WorkSheetParser(src, ws._shared_strings, data_only=False,
                                             epoch=wb.epoch, date_formats=wb._date_formats,
                                             timedelta_formats=wb._timedelta_formats)
                    for idx, row in parser.parse():
                        yield idx, [(c["column"], c["value"]) for c in row]
            out.append(_sheet(name, cells(), budget))
    except Refusal:
        raise
    except Exception:
        raise Refusal("bad_xlsx") from None
    finally:
        wb.close()
    return sheets, out


def _calamine_sheets(data: bytes, fmt: str, wanted: list[str] | None) -> tuple[list[str], list[Sheet]]:
    """.xls / .ods through python-calamine in a child process (see loaders._calamine)."""
    import pickle
    import subprocess
    import sys
    from pathlib import Path
    if fmt == "ods":
        check_zip(data, "bad_ods")
    child = Path(__file__).with_name("_calamine.py")
    try:
        p = subprocess.run([sys.executable, str(child), str(CHILD_MEMORY_MB), str(MAX_CELLS),
                            str(MAX_COLUMNS), "\x1f".join(wanted or [])],
                           input=data, capture_output=True, timeout=CHILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise Refusal("sheet_too_big") from None
    if p.returncode != 0 or not p.stdout:
        # killed by its memory limit (Rust aborts when an allocation fails) or crashed
        raise Refusal("sheet_too_big" if p.returncode < 0 or b"MemoryError" in p.stderr
                      or b"memory allocation" in p.stderr else f"bad_{fmt}")
    got = pickle.loads(p.stdout)
    if got.get("error"):
        raise Refusal(f"bad_{fmt}")
    out, budget = [], [MAX_CELLS]
    for name, rows, err in got["sheets"]:
        if err == "too_many_cells":
            raise Refusal("too_many_cells", n=f"{MAX_CELLS:,}")
        if err:
            code = "too_many_columns" if err == "too_many_columns" else "sheet_too_big"
            out.append(Sheet(name, [], [], Refusal(code, sheet=name, n=MAX_COLUMNS, value="")))
            continue
        out.append(_sheet(name, rows, budget))
    return got["names"], out


def _table(sh: Sheet, fmt: str, names: list[str]) -> RawTable:
    rows = sh.rows
    hidx = find_header(rows[:HEAD_ROWS])
    width = max((len(r) for r in rows), default=0)
    body = rows[hidx + 1:]
    frame = pd.DataFrame(body, columns=range(width), dtype=str) if body else \
        pd.DataFrame({i: pd.Series([], dtype=str) for i in range(width)})
    headers = [h.strip() for h in rows[hidx]]
    title = " ".join(c.strip() for r in rows[:hidx] for c in r if c.strip())
    return RawTable(frame=frame, rownum=np.asarray(sh.rownums[hidx + 1:], dtype=np.int64),
                    headers=headers, header_row=sh.rownums[hidx], fmt=fmt, sheet=sh.name,
                    sheets=names, title=title, sheets_read=[sh.name])


def _notes_sheet(name: str) -> bool:
    from dashboard.i18n import t
    if name in {t(f"loader.template.{k}", lang) for k in ("rules_sheet", "lists_sheet")
                for lang in ("zh", "en")}:
        return True
    return bool(NOTES_SHEET_RE.search(name))


def read_book(data: bytes, fmt: str, sheets: list[str] | None = None, kind: str | None = None,
              mapping: dict[str, str] | None = None) -> RawTable:
    """A workbook as one table: the named sheets, or every sheet that looks like ``kind``
    (detected from the first data sheet when None). Notes sheets (填写说明, the template's
    option lists), sheets without a header and sheets of another kind are skipped and listed
    in ``sheets_skipped``; the rows of several sheets are numbered as split_row() reads."""
    reader = _xlsx_sheets if fmt == "xlsx" else (lambda d, w: _calamine_sheets(d, fmt, w))
    if sheets:
        names, got = reader(data, list(sheets))
        missing = [n for n in sheets if n not in names]
        if missing:
            raise Refusal("no_sheet", value=missing[0], sheets="、".join(names))
        for sh in got:
            if sh.problem is not None:
                raise sh.problem
        tables = [_table(sh, fmt, names) for sh in got if sh.rows]
        if not tables:
            raise Refusal("empty")
        return _combine(tables, kind, mapping, [], names) if len(tables) > 1 else \
            _with(tables[0], [], names)
    names, got = reader(data, None)
    skipped: list[dict] = []
    candidates: list[RawTable] = []
    first_refusal = None
    for sh in got:
        if _notes_sheet(sh.name):
            skipped.append({"sheet": sh.name, "reason": "notes"})
            continue
        if sh.problem is not None:
            first_refusal = first_refusal or sh.problem
            skipped.append({"sheet": sh.name, "reason": sh.problem.code, **_params(sh.problem)})
            continue
        if len(sh.rows) == 0:
            skipped.append({"sheet": sh.name, "reason": "empty"})
            continue
        try:
            candidates.append(_table(sh, fmt, names))
        except Refusal as e:
            first_refusal = first_refusal or e
            skipped.append({"sheet": sh.name, "reason": e.code})
    if not candidates:
        if first_refusal is not None:
            raise first_refusal
        raise Refusal("empty")
    if len(candidates) == 1:
        return _with(candidates[0], skipped, names)
    return _combine(candidates, kind, mapping, skipped, names)


def _params(r: Refusal) -> dict:
    return {k: v for k, v in r.problems[0].params.items() if k in ("n", "value")}


def _with(t: RawTable, skipped: list[dict], names: list[str] | None = None) -> RawTable:
    t.sheets_skipped = skipped
    if names is not None:
        t.sheets = names
    return t


def _combine(tables: list[RawTable], kind: str | None, mapping, skipped: list[dict],
             names: list[str]) -> RawTable:
    """The sheets of one kind as one table: columns lined up by the field each header means
    (headers nobody recognises by their text), rows numbered sheet * SHEET_ROW_STRIDE + row."""
    from loaders import normalise as N
    detected = []
    for t in tables:
        try:
            detected.append(N.detect_kind(t.headers, kind))
        except Refusal as e:
            detected.append(e)
    want = kind or next((d for d in detected if isinstance(d, str)), None)
    keep, held = [], []
    for t, d in zip(tables, detected):
        if want is not None and d == want:
            keep.append(t)
        else:
            held.append((t, d))
    if not keep:  # nothing fits: the first sheet alone, so that its problems are listed
        keep, held = [tables[0]], [(t, d) for t, d in zip(tables[1:], detected[1:])]
    for t, d in held:
        if isinstance(d, str):
            skipped.append({"sheet": t.sheet, "reason": "other_kind", "detected": d})
        else:
            skipped.append({"sheet": t.sheet, "reason": d.code})
    order = {t.sheet: i for i, t in enumerate(tables)}
    skipped.sort(key=lambda s: names.index(s["sheet"]) if s["sheet"] in names else len(names))
    if len(keep) == 1:
        return _with(keep[0], skipped, names)
    k = want or "disputes"
    canon: dict[str, int] = {}
    headers: list[str] = []
    parts, nums = [], []
    for si, t in enumerate(keep):
        m, info = N.match_headers(t.headers, k, mapping)
        cols = {}
        for e in info:
            key = (e["field"] if e["how"] in ("alias", "manual") else "") or f"\x00{e['column']}"
            if e["how"] == "duplicate":
                key = f"\x01{e['column']}"
            if key not in canon:
                canon[key] = len(headers)
                headers.append(e["column"])
            cols[canon[key]] = e["index"]
        parts.append((t, cols))
        nums.append(np.asarray(t.rownum, dtype=np.int64) + si * SHEET_ROW_STRIDE)
    frames = []
    for t, cols in parts:
        empty = pd.Series([""] * len(t.frame), dtype=str)
        frames.append(pd.DataFrame({j: (t.frame[cols[j]].reset_index(drop=True) if j in cols
                                        else empty) for j in range(len(headers))}))
    frame = pd.concat(frames, ignore_index=True)
    first = keep[0]
    del order
    return RawTable(frame=frame, rownum=np.concatenate(nums), headers=headers,
                    header_row=first.header_row, fmt=first.fmt, sheet=first.sheet, sheets=names,
                    title=first.title, sheets_read=[t.sheet for t in keep],
                    sheets_skipped=skipped)


def read(data: bytes, file_name: str, sheet: str | None = None, *,
         sheets: list[str] | None = None, kind: str | None = None,
         mapping: dict[str, str] | None = None) -> RawTable:
    """``sheet``/``sheets``: the workbook sheets to read (default: every sheet that looks
    like ``kind``, notes sheets skipped; see read_book)."""
    if data is None or len(data) == 0:
        raise Refusal("empty")
    if len(data) > MAX_BYTES:
        raise Refusal("too_big", mb=MAX_BYTES // (1024 * 1024))
    fmt = file_format(data, file_name)
    if fmt in ("xlsx", "xls", "ods"):
        wanted = list(sheets or ([sheet] if sheet else []))
        return read_book(data, fmt, wanted or None, kind, mapping)
    if fmt in ("geojson", "shapefile"):
        from loaders import geo
        return geo.read(data, fmt)
    return read_csv(data)


def skipped_messages(skipped: list[dict], lang: str = "zh") -> list[dict]:
    """The skipped sheets with the reason in words: {sheet, reason, message}."""
    from dashboard.i18n import has, t
    out = []
    for s in skipped:
        params = {k: v for k, v in s.items() if k not in ("sheet", "reason")}
        if params.get("detected"):
            params["detected"] = t(f"loader.kind.{params['detected']}", lang)
        key = f"loader.sheet_skip.{s['reason']}"
        msg = t(key if has(key, lang) or has(key) else "loader.sheet_skip.other", lang, **params)
        out.append({"sheet": s["sheet"], "reason": s["reason"], "message": msg})
    return out


def name_sheets(res, sheets_read: list[str], lang: str = "zh") -> None:
    """Rows of a table of several sheets back to (sheet, row) in an ImportResult's errors and
    preview."""
    from dashboard.i18n import t
    for e in res.errors:
        if e.get("row") is not None:
            si, e["row"] = split_row(e["row"])
            e["sheet"] = sheets_read[si] if si < len(sheets_read) else ""
    rk, sk = t("upload.preview_row", lang), t("upload.sheet", lang)
    for i, row in enumerate(res.preview):
        if rk in row:
            si, r = split_row(row[rk])
            res.preview[i] = {sk: sheets_read[si] if si < len(sheets_read) else "", rk: r,
                              **{k: v for k, v in row.items() if k != rk}}


def sheet_notes(read: list[str], skipped: list[dict], lang: str = "zh") -> list[str]:
    from dashboard.i18n import t
    out = [t("loader.note.sheets_read", lang, read="、".join(read))] if read else []
    if skipped:
        out.append(t("loader.note.sheets_skipped", lang, skipped="；".join(
            f"{s['sheet']}（{s['message']}）" for s in skipped)))
    return out
