"""Normalise: headers to fields (alias table), kind detection, and vectorised value parsing.

Every parser takes a pandas string Series and returns (values, bad mask) so that
validation can report each bad cell without a Python loop over the rows.
"""
from __future__ import annotations

import difflib
import re
from datetime import date

import numpy as np
import pandas as pd

from loaders import spec
from loaders.problems import Problem, Refusal

NULLS = ("", "-", "--", "—", "——", "/", "无", "null", "none", "nan", "#n/a", "n/a", "不详")
FULLWIDTH_RE = "[\uff01-\uff5e\u3000]"  # real characters: pyarrow's RE2 runs it


# ---------------------------------------------------------------- headers

def match_headers(headers: list[str], kind: str, manual: dict[str, str] | None = None):
    """Map columns to fields.

    Returns (field -> column index, info list). ``manual`` maps a header as written
    to a field name ("" ignores the column); it wins over the alias table.
    """
    exact, loose = spec.alias_index(kind)
    names = {f.name for f in spec.fields(kind)}
    manual = {str(k).strip(): v for k, v in (manual or {}).items()}
    found: dict[str, tuple[int, int]] = {}  # field -> (column, priority)
    info = []
    for i, h in enumerate(headers):
        entry = {"index": i, "column": h, "field": "", "how": "unmatched"}
        n = spec.norm_header(h)
        fld, prio, how = "", 99, "unmatched"
        if h.strip() in manual:
            fld = manual[h.strip()] if manual[h.strip()] in names else ""
            prio, how = -1, ("manual" if fld else "ignored")
        elif n in ("序号", "no", "no.", "序"):
            how = "ignored"
        elif n in exact:
            fld, how = exact[n], "alias"
            prio = _priority(kind, fld, n)
        elif n and (spec.strip_units(n) or n) in loose:
            fld, how = loose[spec.strip_units(n) or n], "alias"
            prio = 50
        if fld:
            if fld in found and found[fld][1] <= prio:
                how = "duplicate"
                entry.update(field=fld, how=how)
                info.append(entry)
                continue
            if fld in found:  # the earlier column loses
                old = found[fld][0]
                info[old].update(how="duplicate")
            found[fld] = (i, prio)
        entry.update(field=fld, how=how)
        info.append(entry)
    return {f: c for f, (c, _) in found.items()}, info


def _priority(kind: str, fld: str, n: str) -> int:
    for i, a in enumerate(spec.field(kind, fld).aliases):
        if spec.norm_header(a) == n:
            return i
    return 40


def kind_scores(headers: list[str]) -> dict[str, tuple[int, list[str]]]:
    """kind -> (matched specific fields, missing required fields)."""
    out = {}
    for k in spec.KINDS:
        m, _ = match_headers(headers, k)
        specific = [f for f in m if not spec.field(k, f).generic]
        missing = [f.name for f in spec.fields(k) if f.required and f.name not in m
                   and f.type != "village"]
        out[k] = (len(specific), missing)
    return out


def foreign_kind(headers: list[str]) -> str | None:
    return foreign_score(headers)[0]


def foreign_score(headers: list[str]) -> tuple[str | None, int]:
    """(the other kind of file these headers mark, how many of its headers are present)."""
    normed = {spec.norm_header(h) for h in headers}
    best, n = None, 0
    for name, aliases in spec.FOREIGN.items():
        c = sum(1 for a in aliases if spec.norm_header(a) in normed)
        if c > n:
            best, n = name, c
    return (best, n) if n >= 2 else (None, 0)


def detect_kind(headers: list[str], wanted: str | None = None) -> str:
    scores = kind_scores(headers)
    # A roster with a 所属网格 and a 户数 column also "fits" the grid list: when the headers of
    # another kind of file outnumber what they share with ours, it is that file, and is named
    # as such (never taken for a kind that the clerk may not upload, and refused as a
    # permission problem).
    other, n_other = foreign_score(headers)
    top = max((n for n, _ in scores.values()), default=0)
    if other and n_other >= 3 and n_other > top:
        raise Refusal("foreign", foreign=other, wanted=wanted or "")
    fitting = [k for k, (n, miss) in scores.items() if not miss and n > 0]
    fitting.sort(key=lambda k: -scores[k][0])
    if wanted:
        if not scores[wanted][1] and (not fitting or scores[wanted][0] >= scores[fitting[0]][0] - 1):
            return wanted
        if fitting and fitting[0] != wanted:
            raise Refusal("wrong_kind", detected=fitting[0], wanted=wanted)
        other = foreign_kind(headers)
        if other and scores[wanted][0] <= 1:
            raise Refusal("foreign", foreign=other, wanted=wanted)
        return wanted  # missing columns are reported by validation
    if fitting:
        return fitting[0]
    other = foreign_kind(headers)
    if other:
        raise Refusal("foreign", foreign=other, wanted="")
    best = max(scores, key=lambda k: scores[k][0])
    if scores[best][0] >= 2:
        return best  # validation names the missing columns
    raise Refusal("unknown_kind")


# ---------------------------------------------------------------- values

def clean(s: pd.Series) -> pd.Series:
    s = s.astype(str)
    s = s.str.strip()
    return s


def halfwidth(s: pd.Series) -> pd.Series:
    if _all_ascii(s):  # no full-width character: nothing to scan for
        return s
    mask = s.str.contains(FULLWIDTH_RE, regex=True)
    if mask.any():
        s = s.copy()
        s[mask] = s[mask].str.normalize("NFKC").str.strip()
    return s


def _all_ascii(s: pd.Series) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        arr = pa.array(s.array)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return False
        return bool(pc.all(pc.string_is_ascii(arr)).as_py() is not False)
    except (TypeError, ValueError, pa.ArrowException):
        return False


_FW = re.compile(FULLWIDTH_RE)


def hw(text: str) -> str:
    """halfwidth() for one string."""
    import unicodedata
    text = str(text)
    return unicodedata.normalize("NFKC", text).strip() if _FW.search(text) else text.strip()


def too_long(s: pd.Series, limit: int) -> np.ndarray:
    """Cells longer than ``limit`` characters. A cell has no more characters than UTF-8 bytes,
    so when no cell has more bytes than that (pyarrow: offsets only), no text is scanned."""
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        arr = pa.array(s.array)
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            top = pc.max(pc.binary_length(arr)).as_py()
            if top is None or top <= limit:
                return np.zeros(len(s), dtype=bool)
    except (TypeError, ValueError, pa.ArrowException):
        pass
    return (s.str.len() > limit).to_numpy(dtype=bool)


_NULLS_ANY_CASE = sorted({v for n in NULLS for v in (n, n.upper(), n.title())})


def blank(s: pd.Series, text: bool = False) -> np.ndarray:
    if text:
        return (s == "").to_numpy(dtype=bool)
    return s.isin(_NULLS_ANY_CASE).to_numpy(dtype=bool)


def by_value(s: pd.Series, fn, dtype=object) -> np.ndarray:
    """fn applied once per distinct value, spread back to every row (missing -> fn(''))."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = [fn(u) for u in uniques.tolist()] + [fn("")]
    return np.asarray(mapped, dtype=dtype)[codes]


def _arrow(s: pd.Series):
    import pyarrow as pa
    return pa.array(s, type=pa.large_string(), from_pandas=True)


def parse_number(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers with thousands separators and trailing units (人, 个, 条, 小时, h)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    t = halfwidth(s)
    nb = ~blank(t)
    try:  # fast path: every filled cell is a plain number
        arr = _arrow(t.where(pd.Series(nb, index=t.index)))
        num = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        if not (nb & ~np.isfinite(num)).any():   # "inf", "nan" are words, not numbers
            return pd.Series(num, index=t.index), np.zeros(len(t), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    t = t.str.replace(",", "", regex=False)
    t = t.str.replace(r"^(-?[0-9]+(?:\.[0-9]+)?)[ ]*(人次|人|个|条|次|户|名|件|小时|时|h|H|分|元)$",
                      r"\1", regex=True)
    v = pd.to_numeric(t.where(pd.Series(nb, index=t.index)), errors="coerce").astype("float64")
    finite = np.isfinite(v.to_numpy(dtype="float64", na_value=np.nan))
    v = v.where(pd.Series(finite, index=v.index))
    bad = nb & ~finite
    return v, bad


def parse_int(s: pd.Series):
    v, bad = parse_number(s)
    arr = v.to_numpy(dtype="float64", na_value=np.nan)
    frac = ~np.isnan(arr) & (np.floor(arr) != arr)
    neg = ~np.isnan(arr) & (arr < 0)
    huge = ~np.isnan(arr) & (np.abs(arr) > 2_000_000_000)
    return v, bad | frac | huge, neg


def parse_float(s: pd.Series):
    v, bad = parse_number(s)
    arr = v.to_numpy(dtype="float64", na_value=np.nan)
    neg = ~np.isnan(arr) & (arr < 0)
    huge = ~np.isnan(arr) & (np.abs(arr) > 1e9)
    return v, bad | huge, neg


def parse_date(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日, 20240305, Excel serials; full-width digits."""
    import pyarrow.compute as pc
    t = halfwidth(s)
    nb = ~blank(t)
    fast = pc.strptime(_arrow(t), format="%Y-%m-%d", unit="s", error_is_null=True)
    out = pd.Series(fast.to_numpy(zero_copy_only=False), index=t.index).astype("datetime64[ns]")
    rest = nb & out.isna().to_numpy(dtype=bool)
    if rest.any():
        r = t[rest]
        r = r.str.replace(r"[T\s].*$", "", regex=True)
        r = r.str.replace(r"[年月/.．\\-]", "-", regex=True).str.replace("日", "", regex=False)
        m = r.str.extract(r"^(\d{4})-(\d{1,2})-(\d{1,2})-?$")
        c = r.str.extract(r"^(\d{4})(\d{2})(\d{2})$")
        m = m.fillna(c) if len(m) else m
        parts = m.apply(pd.to_numeric, errors="coerce")
        got = pd.to_datetime(dict(year=parts[0], month=parts[1], day=parts[2]), errors="coerce") \
            if len(parts) else pd.Series([], dtype="datetime64[ns]")
        serial = pd.to_numeric(r.where(r.str.fullmatch(r"\d{5}(\.\d+)?")), errors="coerce")
        ok_serial = serial.between(20000, 80000)
        from_serial = pd.Timestamp("1899-12-30") + pd.to_timedelta(serial.where(ok_serial).floordiv(1),
                                                                    unit="D")
        got = got.fillna(from_serial) if len(got) else got
        out = out.astype("datetime64[ns]")
        out[rest] = got.to_numpy(dtype="datetime64[ns]")
    bad = nb & out.isna().to_numpy(dtype=bool)
    return out, bad


def parse_enum(s: pd.Series, enum: str) -> tuple[pd.Series, np.ndarray]:
    lookup = spec.enum_lookup(enum)
    vals = by_value(s, lambda x: lookup.get(spec.norm_header(x)) if x else None)
    v = pd.Series(vals, index=s.index, dtype=object)
    bad = ~blank(s) & pd.isna(vals)
    return v, bad


def split_prefixed(s: pd.Series, enum: str, prefix_enum: str) -> tuple[pd.Series, pd.Series]:
    """(the value without a level prefix, the prefix's code or None) for values such as
    县人大代表 (→ 人大代表, county); a value the enumeration knows as written is left alone."""
    lookup = spec.enum_lookup(enum)
    prefixes = sorted(spec.enum_lookup(prefix_enum).items(), key=lambda kv: -len(kv[0]))

    def one(x):
        n = spec.norm_header(x)
        if not n or n in lookup:
            return (x, None)
        for p, code in prefixes:
            if n.startswith(p) and n[len(p):] in lookup:
                return (n[len(p):], code)
        return (x, None)
    rest = pd.Series(by_value(s, lambda x: one(x)[0]), index=s.index, dtype=object)
    level = pd.Series(by_value(s, lambda x: one(x)[1]), index=s.index, dtype=object)
    return rest, level


def closest(value: str, options: list[str]) -> str:
    m = difflib.get_close_matches(value, options, n=1, cutoff=0.4)
    if m:
        return m[0]
    for o in options:
        if value and (value in o or o in value):
            return o
    return ""


CN_NUM = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
          "九": 9}


def cn_int(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if not text or any(ch not in CN_NUM and ch not in "十百" for ch in text):
        return None
    total, cur = 0, 0
    for ch in text:
        if ch == "百":
            total += (cur or 1) * 100
            cur = 0
        elif ch == "十":
            total += (cur or 1) * 10
            cur = 0
        else:
            cur = CN_NUM[ch]
    return total + cur


GRID_RE = re.compile(r"^(?:第)?([0-9一二两三四五六七八九十百]+)(?:号)?(?:网格)?$|^网格([0-9]+)$")


def grid_canon(name: str) -> str:
    """第3网格, 第三网格, 3号网格, 网格3, 3 -> 第3网格; anything else unchanged."""
    import unicodedata
    n = unicodedata.normalize("NFKC", name).replace(" ", "")
    m = GRID_RE.match(n)
    if m and ("网格" in n or n.isdigit()):
        k = cn_int(m.group(1) or m.group(2))
        if k is not None:
            return f"第{k}网格"
    return n


def today() -> date:
    return date.today()


def problems_for(mask: np.ndarray, rownum: np.ndarray, column: str, values: pd.Series | None,
                 code: str, cap: int, **params) -> list[Problem]:
    idx = np.flatnonzero(mask)[:cap]
    if values is None:
        return [Problem(int(rownum[i]), column, "", code, dict(params)) for i in idx]
    vals = values.to_numpy()
    return [Problem(int(rownum[i]), column, _short(vals[i]), code, dict(params)) for i in idx]


def _short(v) -> str:
    s = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    return s if len(s) <= 200 else s[:200] + "…"
