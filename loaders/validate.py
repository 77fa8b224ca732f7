"""Validate: typed, checked rows ready for the database, and every problem in one pass.

Each problem carries the spreadsheet row number the clerk sees, the column as
written in the file, the value, and a reason code whose catalogue message says
how to fix it. Checks are vectorised (masks over the whole column).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dashboard import settings
from dashboard.db import schema as S
from dashboard.i18n import t
from loaders import normalise as N
from loaders import spec
from loaders.problems import Problem
from loaders.read import MAX_CELL, RawTable

MAX_PROBLEMS = 5000


@dataclass
class Registry:
    townships: list[dict]
    villages: pd.DataFrame   # id, name, code, township_id
    grids: pd.DataFrame      # id, village_id, name, code

    @classmethod
    def load(cls, conn) -> "Registry":
        tw = [dict(r) for r in conn.execute(sa.select(S.township.c.id, S.township.c.code,
                                                      S.township.c.name)).mappings()]
        v = pd.DataFrame(conn.execute(sa.select(S.village.c.id, S.village.c.name, S.village.c.code,
                                                S.village.c.township_id)).all(),
                         columns=["id", "name", "code", "township_id"])
        g = pd.DataFrame(conn.execute(sa.select(S.grid.c.id, S.grid.c.village_id, S.grid.c.name,
                                                S.grid.c.code)).all(),
                         columns=["id", "village_id", "name", "code"])
        return cls(tw, v, g)

    def find_township(self, value: str) -> dict | None:
        """The township written by name (乡镇（街道）) or by its 12-digit code, or None."""
        x = N.hw(str(value or "")).strip()
        for tw in self.townships:
            if x and x in (str(tw["name"]), str(tw["code"])):
                return tw
        return None

    def within(self, tw: dict) -> "Registry":
        """The registry as seen from one township: its villages and their grids only, so that a
        name (建设村) is matched inside that township. ``tw["id"]`` None: a township to be created
        by this import (no villages yet)."""
        v = self.villages[self.villages["township_id"] == tw["id"]] if tw.get("id") is not None \
            else self.villages.iloc[0:0]
        v = v.reset_index(drop=True)
        g = self.grids[self.grids["village_id"].isin(v["id"].tolist())].reset_index(drop=True)
        return Registry([tw], v, g)

    def township_of(self, village_ids) -> int | None:
        """The one township these villages are in (None: none given, several, or unknown)."""
        v = self.villages[self.villages["id"].isin([int(i) for i in village_ids])]
        tids = set(int(t) for t in v["township_id"].dropna())
        return next(iter(tids)) if len(tids) == 1 and len(v) else None

    def village_names(self) -> dict[int, str]:
        return dict(zip(self.villages["id"].tolist(), self.villages["name"].tolist()))

    def find_village(self, value: str) -> tuple[int | None, str]:
        """(id, suggestion) for a village written by name or code."""
        ids, sugg, _ = self.resolve_villages(pd.Series([value], dtype=str))
        return (None if pd.isna(ids[0]) else int(ids[0])), sugg.get(value, "")

    def resolve_villages(self, s: pd.Series, by: str = "any"):
        """Village ids (NaN where unknown or ambiguous), suggestions for unknown values, and
        the values naming more than one village (same name in two townships)."""
        v = self.villages
        by_code = {str(c): float(i) for c, i in zip(v["code"], v["id"]) if c}
        names = v["name"].tolist()
        seen: dict[str, int] = {}
        for n in names:
            seen[n] = seen.get(n, 0) + 1
        by_name = {n: float(i) for n, i in zip(names, v["id"]) if seen[n] == 1}
        out: dict[str, float] = {}
        sugg: dict[str, str] = {}
        ambiguous: set[str] = set()
        for val in pd.unique(s.fillna("")).tolist():
            x = N.hw(val)
            hit = by_code.get(x) if by != "name" else None
            if hit is None and by != "code":
                hit = by_name.get(x)
                if hit is None:
                    for cand in (x + "村", x + "社区", x.replace("村民委员会", "村").replace("村委会", "村"),
                                 x.replace("居民委员会", "社区").replace("居委会", "社区")):
                        if cand in by_name:
                            hit = by_name[cand]
                            break
            out[val] = hit if hit is not None else np.nan
            if hit is None and val:
                if seen.get(x, 0) > 1:
                    ambiguous.add(val)
                elif by != "code":
                    sugg[val] = N.closest(x, names)
        return N.by_value(s, lambda x: out.get(x, np.nan), dtype="float64"), sugg, ambiguous


@dataclass
class Prepared:
    kind: str
    frame: pd.DataFrame                # DB-ready columns (+ "_row" spreadsheet row numbers)
    provided: list[str]                # DB columns that the file supplies (updates touch only these)
    problems: list[Problem]
    rejected: int
    rows_read: int
    columns: list[dict]                # how each column was matched
    village_id: int | None = None      # the clerk's village (fill value), if any
    notes: list[str] = field(default_factory=list)
    total_problems: int = 0
    key_order: np.ndarray | None = None  # rows sorted by (village_id, record number), if known
    category_map: dict | None = None     # disputes: the clerk's {category as written: vocabulary}
    categories: list = field(default_factory=list)  # disputes: categories outside the vocabulary


class Collector:
    def __init__(self, rownum: np.ndarray):
        self.rownum = rownum
        self.bad = np.zeros(len(rownum), dtype=bool)
        self.problems: list[Problem] = []
        self.total = 0
        self.file_level: list[Problem] = []

    def add(self, mask, column: str, values, code: str, **params):
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        if not n:
            return
        self.bad |= mask
        self.total += n
        room = MAX_PROBLEMS - len(self.problems)
        if room > 0:
            self.problems.extend(N.problems_for(mask, self.rownum, column, values, code, room,
                                                **params))

    def whole(self, p: Problem):
        self.file_level.append(p)
        self.total += 1


def _first_filled(frame: pd.DataFrame) -> pd.Series:
    first = pd.Series([""] * len(frame), index=frame.index, dtype=str)
    for c in frame.columns:
        s = frame[c].str.strip()
        first = first.where(first != "", s)
    return first


def content_key(frame: pd.DataFrame, cols: list[str], prefix: str = "AUTO-") -> pd.Series:
    """Stable record number for ledgers without one: a hash of village, date and content.

    Identical rows get -2, -3 ... so that each is kept and a re-upload matches them again.
    """
    parts = [frame[c].astype(str).where(frame[c].notna(), "") for c in cols]
    joined = parts[0].str.cat(parts[1:], sep="\x1f") if len(parts) > 1 else parts[0]
    keys = pd.Series([prefix + hashlib.sha1(x.encode("utf-8")).hexdigest()[:16]
                      for x in joined.tolist()], index=frame.index, dtype=str)
    dup = keys.groupby(keys).cumcount()
    if (dup > 0).any():
        keys = keys.where(dup == 0, keys + "-" + (dup + 1).astype(str))
    return keys


def natural_keys(frame: pd.DataFrame, kind: str) -> pd.Series:
    """Record numbers for a keyless volunteer or visit ledger: village + spec.NATURAL_KEY[kind]
    (a correction of any other cell keeps the number), -2, -3 ... for same-day repeats in
    file order. Migration 0005 gives stored keyless rows the same numbers."""
    return content_key(frame, ["village_id", *spec.NATURAL_KEY[kind]], prefix=spec.NATURAL_PREFIX)


def _formula(s: pd.Series, bad: np.ndarray) -> np.ndarray:
    """Which of the bad cells are formulas (=SUM(...)): asked only when some cell is bad."""
    if not bad.any():
        return np.zeros(len(s), dtype=bool)
    return s.str.startswith("=").to_numpy(dtype=bool)


def prepare(raw: RawTable, kind: str, reg: Registry, *, fill_village: int | None = None,
            allowed: set[int] | None = None, manual: dict[str, str] | None = None,
            lang: str = "zh", coord_system: str = "wgs84",
            category_map: dict[str, str] | None = None) -> Prepared:
    mapping, info = N.match_headers(raw.headers, kind, manual)
    label = {f.name: t(f"loader.field.{kind}.{f.name}", lang) for f in spec.fields(kind)}
    for e in info:
        e["label"] = label.get(e["field"], "")
    col_name = {f: (raw.headers[i] or label[f]) for f, i in mapping.items()}

    frame = raw.frame
    geoms = raw.geometry
    notes: list[str] = []
    # drop blank rows (over the matched columns) and footers (signatures, totals)
    used = sorted(set(mapping.values()))
    cleaned = {c: N.clean(frame[c]) for c in used}   # stripped once, for both uses
    if len(frame) and used:
        nonblank = np.zeros(len(frame), dtype=bool)
        for c in used:
            nonblank |= (cleaned[c] != "").to_numpy(dtype=bool)
        # cheap prefilter (pyarrow kernel over the first columns), then the footer pattern on
        # the first filled cell of the few candidate rows
        cand = np.zeros(len(frame), dtype=bool)
        for c in list(frame.columns)[:4]:
            cand |= frame[c].str.contains(spec.FOOTER_START, regex=True).fillna(False) \
                .to_numpy(dtype=bool)
        footer = np.zeros(len(frame), dtype=bool)
        if cand.any():
            first = _first_filled(frame[cand])
            footer[cand] = [bool(spec.FOOTER_RE.match(x)) for x in first.tolist()]
        keep = nonblank & ~footer
    else:
        keep = np.zeros(len(frame), dtype=bool)
    if geoms is not None:
        keep = np.ones(len(frame), dtype=bool)
    if keep.all():
        data = {c: v.reset_index(drop=True) for c, v in cleaned.items()}
    else:
        data = {c: v[keep].reset_index(drop=True) for c, v in cleaned.items()}
    rownum = raw.rownum[keep]
    if geoms is not None:
        geoms = [g for g, k in zip(geoms, keep) if k]
    n = int(keep.sum())
    col = Collector(rownum)

    # required columns
    for f in spec.fields(kind):
        if f.required and f.name not in mapping:
            if f.type == "village" and (fill_village is not None or "village_code" in mapping):
                continue
            if kind == "grids" and f.name == "name" and "code" in mapping:
                continue
            if kind == "volunteers" and f.name == "hours" and "hours_total" in mapping:
                continue
            col.whole(Problem(raw.header_row or None, label[f.name], "", "missing_column",
                              {"aliases": "、".join(f.aliases[:4])}))
    if n == 0 and not col.file_level:
        col.whole(Problem(raw.header_row or None, "", "", "no_rows"))

    out = pd.DataFrame(index=range(n))
    out["_row"] = rownum
    raw_vals: dict[str, pd.Series] = {}
    prefixed: dict[str, pd.Series] = {}   # enum -> codes read from a prefix (县人大代表)
    for f in spec.fields(kind):
        if f.name not in mapping:
            continue
        s = data[mapping[f.name]]
        raw_vals[f.name] = s
        cname = col_name[f.name]
        long_ = N.too_long(s, f.max_len or MAX_CELL)
        if f.type in ("text", "code") or f.max_len:
            col.add(long_, cname, s, "too_long", max=f.max_len or MAX_CELL)
        if f.type == "text":
            v = s.where(~pd.Series(long_), s.str.slice(0, f.max_len or MAX_CELL)) if long_.any() else s
            isblank = N.blank(s, text=True)
            out[f.name] = v.where(~pd.Series(isblank))  # str dtype, NaN where blank
            if f.required:
                col.add(isblank, cname, None, "required")
            continue
        isblank = N.blank(s)
        if f.type == "code":
            h = N.halfwidth(s)
            bad = ~isblank & ~h.str.fullmatch(r"[0-9]{12}").to_numpy(dtype=bool)
            sci = bad & h.str.contains(r"[eE]\+").to_numpy(dtype=bool) if bad.any() else bad
            col.add(sci, cname, s, "code_scientific")
            col.add(bad & ~sci & ~long_, cname, s, "bad_code")
            out[f.name] = h.where(~pd.Series(isblank | bad), None).astype(object)
        elif f.type in ("int", "float"):
            if f.type == "int":
                v, bad, neg = N.parse_int(s)
            else:
                v, bad, neg = N.parse_float(s)
            formula = _formula(s, bad)
            col.add(bad & formula, cname, s, "formula")
            col.add(bad & ~formula, cname, s, "not_whole" if f.type == "int" else "not_number")
            col.add(neg, cname, s, "negative")
            out[f.name] = v
            if f.required:
                col.add(isblank, cname, None, "required")
        elif f.type == "date":
            v, bad = N.parse_date(s)
            formula = _formula(s, bad)
            col.add(bad & formula, cname, s, "formula")
            col.add(bad & ~formula, cname, s, "bad_date")
            today = pd.Timestamp(N.today())
            col.add((v > today).to_numpy(dtype=bool), cname, s, "future_date",
                    today=N.today().isoformat())
            col.add((v < pd.Timestamp(settings.EARLIEST_DATE)).to_numpy(dtype=bool), cname, s, "old_date")
            out[f.name] = v
            if f.required:
                col.add(isblank, cname, None, "required")
        elif f.type == "enum":
            if f.enum in spec.LEVEL_PREFIXED:  # 县人大代表: the level goes to its own field
                lvl_enum = spec.LEVEL_PREFIXED[f.enum]
                s, lvl = N.split_prefixed(s, f.enum, lvl_enum)
                prefixed[lvl_enum] = lvl
            v, bad = N.parse_enum(s, f.enum)
            choices = "、".join(t(f"enum.{f.enum}.{c}", lang) for c in spec.ENUMS[f.enum])
            col.add(bad, cname, s, "bad_enum", choices=choices)
            out[f.name] = v.astype(object).where(v.notna(), None)
            if f.required:
                col.add(isblank, cname, None, "required")
        elif f.type in ("village", "grid", "village_code"):
            out[f.name] = s.where(~pd.Series(isblank), None)  # NaN where blank

    for f in spec.fields(kind):  # a level from the type's prefix, where its own column is blank
        if f.type == "enum" and f.enum in prefixed and prefixed[f.enum].notna().any():
            got = prefixed[f.enum].reset_index(drop=True)
            out[f.name] = out[f.name].where(out[f.name].notna(), got) if f.name in out else got
            notes.append(f"level_prefix_{f.name}")
    prep = Prepared(kind=kind, frame=out, provided=[], problems=[], rejected=0, rows_read=n,
                    columns=info, village_id=fill_village, notes=notes)
    prep.category_map = category_map
    _CHECKS[kind](prep, col, mapping, col_name, raw_vals, reg, fill_village, allowed, lang,
                  geoms, coord_system, label)
    order = {h: i for i, h in enumerate(raw.headers)}
    col.problems.sort(key=lambda p: (p.row or 0, order.get(p.column, 999)))
    prep.problems = col.file_level + col.problems
    prep.rejected = int(col.bad.sum())
    prep.total_problems = col.total
    return prep


# ---------------------------------------------------------------- per kind

def _resolve_village(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, label):
    """Set prep.frame['village_id']; report unknown/forbidden/inconsistent villages."""
    out = prep.frame
    n = len(out)
    if "village" in mapping or "village_code" in mapping:
        use = "village" if "village" in mapping else "village_code"
        s = raw_vals[use]
        cname = col_name[use]
        isblank = N.blank(s, text=True)
        ids, sugg, amb = reg.resolve_villages(s, by="any" if use == "village" else "code")
        if "village" in mapping and "village_code" in mapping:
            # the code wins (names repeat across townships); a name that contradicts it is an error
            cs = raw_vals["village_code"]
            cblank = N.blank(cs, text=True)
            cids, _, _ = reg.resolve_villages(cs, by="code")
            col.add(~cblank & np.isnan(cids), col_name["village_code"], cs, "unknown_village_code")
            nids = ids
            ids = np.where(cblank, ids, cids)
            clash = ~cblank & ~np.isnan(cids) & ~isblank & ~np.isnan(nids) & (nids != cids)
            col.add(clash, cname, s, "village_code_mismatch", code_col=col_name["village_code"])
            known = ~np.isnan(ids)
            isblank = isblank & cblank
            amb = {a for a in amb if ((s == a).to_numpy() & ~known).any()}
        if fill is not None:
            ids = np.where(isblank, float(fill), ids)
            other = ~isblank & ~np.isnan(ids) & (ids != float(fill))
            chosen = reg.village_names().get(fill, "")
            # where the code column decided the village, say so: the name may well be the
            # chosen village's, and "红旗村 is not 红旗村" helps nobody
            by_code = other & ~cblank if "village_code" in mapping and "village" in mapping \
                else np.zeros(n, dtype=bool)
            if by_code.any():
                names = reg.village_names()
                cnames = pd.Series([names.get(int(i), "") if not np.isnan(i) else "" for i in ids])
                col.add(by_code, col_name["village_code"], cs.reset_index(drop=True) + "（"
                        + cnames + "）", "other_village_code", village=chosen)
            col.add(other & ~by_code, cname, s, "other_village", village=chosen)
        else:
            col.add(isblank, cname, None, "required")
        unknown = ~isblank & np.isnan(ids)
        if unknown.any():
            for val in pd.unique(s[unknown]):
                m = unknown & (s == val).to_numpy(dtype=bool)
                if use == "village_code":
                    col.add(m, cname, s, "unknown_village_code")
                elif val in amb:
                    col.add(m, cname, s, "ambiguous_village")
                else:
                    hint = sugg.get(val, "")
                    col.add(m, cname, s, "unknown_village_hint" if hint else "unknown_village",
                            suggestion=hint)
    elif fill is not None:
        ids = np.full(n, float(fill))
    else:
        ids = np.full(n, np.nan)
    if allowed is not None:
        forbidden = ~np.isnan(ids) & ~np.isin(ids, np.array(sorted(allowed), dtype=float))
        col.add(forbidden, col_name.get("village", label.get("village", "")),
                raw_vals.get("village"), "not_allowed")
    out["village_id"] = _int_ids(ids)


def _int_ids(ids: np.ndarray) -> pd.arrays.IntegerArray:
    """Float ids with NaN for none as a nullable Int64 array (no Python object per row)."""
    ids = np.asarray(ids, dtype="float64")
    na = np.isnan(ids)
    return pd.arrays.IntegerArray(np.where(na, 0, ids).astype("int64"), na)


def _resolve_grid(prep, col, mapping, col_name, raw_vals, reg):
    out = prep.frame
    if "grid" not in mapping:
        return
    s = raw_vals["grid"]
    cname = col_name["grid"]
    g = reg.grids
    by_code = {str(c): (int(i), int(v)) for c, i, v in zip(g["code"], g["id"], g["village_id"])}
    by_name = {(int(v), N.grid_canon(str(nm))): int(i)
               for nm, i, v in zip(g["name"], g["id"], g["village_id"])}
    names_of: dict[int, list[str]] = {}
    for nm, v in zip(g["name"], g["village_id"]):
        names_of.setdefault(int(v), []).append(str(nm))
    vid = out["village_id"]
    isblank = N.blank(s, text=True)
    vcodes, vuniq = pd.factorize(s, use_na_sentinel=True)
    vnum = vid.astype("float64").to_numpy()
    uniq_list = vuniq.tolist()
    # one integer per (village, value) pair: each distinct pair is resolved once
    vi = np.where(np.isnan(vnum), -1, vnum).astype("int64")
    pair, _ = pd.factorize((vi + 1) * (len(uniq_list) + 1) + (vcodes + 1))
    npairs = int(pair.max()) + 1 if len(pair) else 0
    first = np.full(npairs, -1)
    filled = np.flatnonzero(~isblank)
    first[pair[filled][::-1]] = filled[::-1]       # a non-blank row of each pair, if any
    pair_gid = np.full(npairs, np.nan)
    pair_hint = np.full(npairs, "skip", dtype=object)
    for j in np.flatnonzero(first >= 0).tolist():
        i = first[j]
        v, code = vnum[i], vcodes[i]
        if np.isnan(v):
            continue  # "skip": the village is already reported
        x = N.hw(uniq_list[code] if code >= 0 else "")
        if x in by_code:
            gid, gv = by_code[x]
            pair_gid[j], pair_hint[j] = float(gid), ("" if gv == int(v) else "grid_other_village")
            continue
        gid = by_name.get((int(v), N.grid_canon(x)))
        if gid is not None:
            pair_gid[j], pair_hint[j] = float(gid), ""
        else:
            pair_hint[j] = N.closest(N.grid_canon(x), names_of.get(int(v), [])) or "-"
    gids = pair_gid[pair]
    codes = pair_hint[pair]
    gids[isblank] = np.nan
    codes[isblank] = ""
    other = codes == "grid_other_village"
    col.add(other, cname, s, "grid_other_village")
    unknown = ~isblank & np.isnan(gids) & (codes != "skip") & ~other
    if unknown.any():
        hints = pd.Series(codes)
        for h in pd.unique(hints[unknown]):
            m = unknown & (hints == h).to_numpy()
            if h == "-":
                col.add(m, cname, s, "unknown_grid")
            else:
                col.add(m, cname, s, "unknown_grid_hint", suggestion=h)
    gids = np.where(other, np.nan, gids)
    out["grid_id"] = _int_ids(gids)


def _record_numbers(prep, col, mapping, col_name, raw_vals, kind, content_cols):
    out = prep.frame
    key = spec.RECORD_NO[kind]
    if key in mapping:
        s = out[key]
        isblank = s.isna().to_numpy(dtype=bool)
        col.add(isblank, col_name[key], None, "required_no")
        vv = out["village_id"].astype("float64").fillna(-1).to_numpy().astype("int64")
        got = _sorted_duplicates(vv, s)
        if got is not None:
            dup, prep.key_order = got
        else:  # pragma: no cover - a key column pyarrow cannot sort
            kc, _ = pd.factorize(s, use_na_sentinel=True)
            combined = pd.Series(vv * (int(kc.max()) + 2 if len(kc) else 1) + kc)
            dup = combined.duplicated(keep=False).to_numpy(dtype=bool)
        col.add(dup & ~isblank, col_name[key], s, "duplicate_no")
    elif kind in spec.NATURAL_KEY:
        out[key] = natural_keys(out, kind)
        prep.notes.append(f"natural_key_{kind}")
    else:
        out[key] = content_key(out, ["village_id"] + content_cols)
        prep.notes.append("auto_key")


def _sorted_duplicates(vv: np.ndarray, key: pd.Series):
    """(rows whose village and record number repeat, row order sorted by them) with one sort:
    the order is the unique index's, which a bulk insert follows. None if pyarrow cannot."""
    import pyarrow as pa
    import pyarrow.compute as pc
    n = len(vv)
    try:
        k = pa.array(key.array)
        if not (pa.types.is_string(k.type) or pa.types.is_large_string(k.type)):
            return None
        tbl = pa.table({"v": pa.array(vv), "k": k})
        perm = pc.sort_indices(tbl, sort_keys=[("v", "ascending"), ("k", "ascending")]).to_numpy()
    except (TypeError, ValueError, pa.ArrowException):
        return None
    dup = np.zeros(n, dtype=bool)
    if n > 1:
        sv = vv[perm]
        sk = pc.take(k, pa.array(perm))
        same = pc.fill_null(pc.equal(sk[1:], sk[:-1]), False).to_numpy(zero_copy_only=False) & \
            (sv[1:] == sv[:-1])
        ds = np.zeros(n, dtype=bool)
        ds[1:] |= same
        ds[:-1] |= same
        dup[perm] = ds
    return dup, perm


def _defaults(prep, kind, provided_always=()):
    out = prep.frame
    present = [f.name for f in spec.fields(kind) if f.name in out.columns]
    for f in spec.fields(kind):
        if f.type in ("village", "grid", "village_code") or f.name == "township":
            continue
        if f.name not in out.columns:
            out[f.name] = f.default if f.default is not None else None
        elif f.default is not None:
            out[f.name] = out[f.name].where(out[f.name].notna(), f.default)
    prov = [f for f in present if f not in ("village", "grid", "township", "village_code")]
    if "grid" in present:
        prov.append("grid_id")
    prep.provided = sorted(set(prov) | set(provided_always) | {"village_id"})


def _check_disputes(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, geoms,
                    coord, label):
    out = prep.frame
    _resolve_village(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, label)
    _resolve_grid(prep, col, mapping, col_name, raw_vals, reg)
    _defaults(prep, "disputes", ("status", "resolved_on", "level"))
    if "status" in out and len(out):
        resolved = (out["status"] == "resolved").to_numpy(dtype=bool)
        has_date = out["resolved_on"].notna().to_numpy(dtype=bool) if "resolved_on" in out else \
            np.zeros(len(out), bool)
        bad_date_cell = np.zeros(len(out), bool)
        if "resolved_on" in raw_vals:
            bad_date_cell = ~N.blank(raw_vals["resolved_on"]) & ~has_date
        st_col = col_name.get("status", label["status"])
        rcol = col_name.get("resolved_on", label["resolved_on"])
        col.add(resolved & ~has_date & ~bad_date_cell, rcol, None, "resolved_needs_date")
        has_level = out["level"].notna().to_numpy(dtype=bool)
        bad_level_cell = np.zeros(len(out), bool)
        if "level" in raw_vals:
            bad_level_cell = ~N.blank(raw_vals["level"]) & ~has_level
        col.add(resolved & ~has_level & ~bad_level_cell, col_name.get("level", label["level"]), None,
                "resolved_needs_level")
        known = out["status"].notna().to_numpy(dtype=bool)
        col.add(known & ~resolved & has_date, st_col, raw_vals.get("status"), "date_but_open",
                date_col=rcol)
        if "resolved_on" in out and "reported_on" in out:
            before = (out["resolved_on"] < out["reported_on"]).to_numpy(dtype=bool)
            col.add(before, rcol, raw_vals.get("resolved_on"), "resolved_before_reported",
                    reported=col_name.get("reported_on", ""))
    for c in ("lon", "lat"):
        if c in mapping and len(out):
            lim = settings.CHINA_LON if c == "lon" else settings.CHINA_LAT
            v = out[c]
            col.add(((v < lim[0]) | (v > lim[1])).to_numpy(dtype=bool, na_value=False),
                    col_name[c], raw_vals[c], "bad_coord")
    if coord != "wgs84" and "lon" in out and "lat" in out and len(out):
        m = out["lon"].notna() & out["lat"].notna()
        if m.any():
            from loaders.geo import to_wgs84
            x, y = to_wgs84(out.loc[m, "lon"].to_numpy(float), out.loc[m, "lat"].to_numpy(float), coord)
            out.loc[m, "lon"], out.loc[m, "lat"] = np.round(x, 6), np.round(y, 6)
    if "category" in out and len(out):
        _categories(prep, out)
    _record_numbers(prep, col, mapping, col_name, raw_vals, "disputes",
                    ["reported_on", "category", "status", "parties", "mediator", "source", "note"])


def _categories(prep, out) -> None:
    """Categories onto the vocabulary: known spellings to their name, the clerk's own mapping
    (``category_map``) applied, the rest kept as written and listed in prep.categories."""
    lookup = spec.category_lookup()
    chosen = {str(k): v for k, v in (prep.category_map or {}).items()
              if v in spec.DISPUTE_CATEGORIES}
    s = out["category"]
    named = N.by_value(s, lambda x: chosen.get(x) or lookup.get(spec.norm_header(x)) if x else None)
    named = pd.Series(named, index=s.index, dtype=object)
    rest = s.notna() & named.isna()
    out["category"] = named.where(named.notna(), s)
    if rest.any():
        counts = s[rest].value_counts()
        prep.categories = [{"value": str(v), "rows": int(n)} for v, n in counts.items()]


def _check_volunteers(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, geoms,
                      coord, label):
    out = prep.frame
    _resolve_village(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, label)
    _resolve_grid(prep, col, mapping, col_name, raw_vals, reg)
    if "hours_total" in mapping and "hours" not in mapping and "participants" in out:
        # the header says total: per-participant hours are the total shared out (0 volunteers: 0)
        tot, ppl = out["hours_total"].astype("float64"), out["participants"].astype("float64")
        out["hours"] = (tot / ppl.where(ppl > 0)).round(2).where(ppl > 0, 0.0).where(tot.notna())
        col.add(out["hours_total"].isna().to_numpy(dtype=bool) & N.blank(raw_vals["hours_total"]),
                col_name["hours_total"], None, "required")
        prep.notes.append("hours_from_total")
    _defaults(prep, "volunteers")
    if "hours" in mapping and len(out):
        col.add((out["hours"] > settings.MAX_HOURS_PER_PERSON).to_numpy(dtype=bool, na_value=False), col_name["hours"],
                raw_vals["hours"], "hours_per_person")
    _record_numbers(prep, col, mapping, col_name, raw_vals, "volunteers",
                    ["held_on", "team", "category", "participants", "hours", "note"])


def _check_visits(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, geoms,
                  coord, label):
    out = prep.frame
    _resolve_village(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, label)
    _defaults(prep, "visits", ("voters", "suggestions", "resolved", "referred"))
    if len(out):
        over = ((out["resolved"].fillna(0) + out["referred"].fillna(0)) > out["suggestions"].fillna(0))
        c = col_name.get("resolved") or col_name.get("referred") or label["resolved"]
        col.add(over.to_numpy(dtype=bool), c, None, "outcomes_exceed",
                suggestions=col_name.get("suggestions", label["suggestions"]))
    _record_numbers(prep, col, mapping, col_name, raw_vals, "visits",
                    ["visited_on", "rep_name", "rep_type", "form", "note"])


def _check_suggestions(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, geoms,
                       coord, label):
    """A referral (转办) has a department and a referral date; nothing else has a referral or a
    reply date; referral not before collection, reply not before referral; satisfaction is
    the representative's verdict on an answer, so a referral without a reply has none."""
    out = prep.frame
    _resolve_village(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, label)
    _defaults(prep, "suggestions", ("department", "referred_on", "replied_on", "satisfaction"))
    if not len(out) or "handling" not in out:
        _record_numbers(prep, col, mapping, col_name, raw_vals, "suggestions", [])
        return
    n = len(out)

    def has(f):
        return out[f].notna().to_numpy(dtype=bool) if f in out else np.zeros(n, bool)

    def bad_cell(f):  # a cell that is filled but did not parse (already reported)
        return (~N.blank(raw_vals[f]) & ~has(f)) if f in raw_vals else np.zeros(n, bool)

    def cname(f):
        return col_name.get(f, label[f])
    referred = (out["handling"] == "referred").to_numpy(dtype=bool)
    known = out["handling"].notna().to_numpy(dtype=bool)
    hcol = cname("handling")
    for f in ("department", "referred_on"):
        col.add(referred & ~has(f) & ~bad_cell(f), cname(f), None, "referral_needs", handling=hcol)
    for f in ("referred_on", "replied_on"):
        col.add(known & ~referred & has(f), cname(f), raw_vals.get(f), "date_but_not_referred",
                handling=hcol)
    collected = out["collected_on"] if "collected_on" in out else None
    if collected is not None:
        before = (out["referred_on"] < collected).to_numpy(dtype=bool)
        col.add(before, cname("referred_on"), raw_vals.get("referred_on"), "referred_before_collected",
                collected=cname("collected_on"))
    early = (out["replied_on"] < out["referred_on"]).to_numpy(dtype=bool)
    col.add(early, cname("replied_on"), raw_vals.get("replied_on"), "replied_before_referred",
            referred=cname("referred_on"))
    if collected is not None:
        col.add((out["replied_on"] < collected).to_numpy(dtype=bool) & ~early & has("referred_on"),
                cname("replied_on"), raw_vals.get("replied_on"), "replied_before_collected",
                collected=cname("collected_on"))
    col.add(referred & has("satisfaction") & ~has("replied_on") & ~bad_cell("replied_on"),
            cname("satisfaction"), raw_vals.get("satisfaction"), "satisfaction_without_reply",
            replied=cname("replied_on"))
    _record_numbers(prep, col, mapping, col_name, raw_vals, "suggestions",
                    ["collected_on", "rep_name", "category", "note"])


def _geometry(prep, col, geoms, coord, label):
    if geoms is None:
        return
    from loaders.geo import check_and_dump, convert_geometry
    geoms = [convert_geometry(g, coord) if g is not None and not isinstance(g, str) else g
             for g in geoms]
    texts, bbox, probs = check_and_dump(geoms, prep.frame["_row"].to_numpy(), "geometry")
    for p in probs:
        col.bad[np.flatnonzero(prep.frame["_row"].to_numpy() == p.row)] = True
        col.problems.append(p)
        col.total += 1
    prep.frame["geometry"] = pd.Series(texts, dtype=object)
    b = np.array(bbox, dtype=float) if bbox else np.zeros((0, 4))
    for i, c in enumerate(("minx", "miny", "maxx", "maxy")):
        prep.frame[c] = b[:, i] if len(b) else []
    prep.provided = sorted(set(prep.provided) | {"geometry", "minx", "miny", "maxx", "maxy"})


def _check_villages(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, geoms,
                    coord, label):
    out = prep.frame
    _defaults(prep, "villages")
    prep.provided = [c for c in prep.provided if c != "village_id"]
    if "name" in out and len(out):
        nm = out["name"]
        cname = col_name.get("name", label["name"])
        dup = nm.duplicated(keep=False).to_numpy(dtype=bool) & nm.notna().to_numpy(dtype=bool)
        col.add(dup, cname, nm, "duplicate_name")
    if "code" in mapping and len(out):
        cd = out["code"]
        dup = cd.duplicated(keep=False).to_numpy(dtype=bool) & cd.notna().to_numpy(dtype=bool)
        col.add(dup, col_name["code"], cd, "duplicate_code")
    # kind: infer from the name where not given (…社区 is a community)
    if len(out):
        inferred = np.where(out["name"].fillna("").str.endswith("社区"), "community", "village")
        if "kind" in mapping:
            out["kind"] = out["kind"].where(out["kind"].notna(), pd.Series(inferred, dtype=object))
        else:
            out["kind"] = inferred
            prep.provided = sorted(set(prep.provided) - {"kind"})
            prep.notes.append("kind_inferred")
    if allowed is not None and len(out):
        key = out["code"].where(out["code"].notna(), out["name"]) if "code" in out else out["name"]
        ids, _, _ = reg.resolve_villages(key.fillna("").astype(str))
        forbidden = np.isnan(ids) | ~np.isin(ids, np.array(sorted(allowed), dtype=float))
        col.add(forbidden, col_name.get("name", label["name"]), out["name"], "not_allowed")
    if "township" in mapping:
        out["township"] = raw_vals["township"].where(raw_vals["township"] != "", None)
    else:
        out["township"] = None
    _geometry(prep, col, geoms, coord, label)


def _check_grids(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, geoms, coord,
                 label):
    out = prep.frame
    _resolve_village(prep, col, mapping, col_name, raw_vals, reg, fill, allowed, lang, label)
    _defaults(prep, "grids")
    if len(out):
        if "name" in out:
            out["name"] = out["name"].map(lambda x: N.grid_canon(x) if isinstance(x, str) and
                                          N.grid_canon(x).startswith("第") else x)
            k = pd.DataFrame({"v": out["village_id"], "n": out["name"]})
            dup = k.duplicated(keep=False).to_numpy(dtype=bool) & out["name"].notna().to_numpy(bool)
            col.add(dup, col_name.get("name", label["name"]), out["name"], "duplicate_grid")
        if "code" in mapping:
            cd = out["code"]
            dup = cd.duplicated(keep=False).to_numpy(dtype=bool) & cd.notna().to_numpy(dtype=bool)
            col.add(dup, col_name["code"], cd, "duplicate_code")
            if "name" not in mapping:
                out["name"] = None
    _geometry(prep, col, geoms, coord, label)


_CHECKS = {"disputes": _check_disputes, "volunteers": _check_volunteers, "visits": _check_visits,
           "suggestions": _check_suggestions,
           "villages": _check_villages, "grids": _check_grids}
