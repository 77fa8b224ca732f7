"""Template workbooks: headers, an example row, drop-down lists, and the rules on a second sheet."""
from __future__ import annotations

import io
from datetime import date

from dashboard.i18n import t
from loaders import spec

EXAMPLES = {
    "villages": {"name": "红旗村", "code": "360121105201", "kind": "village", "households": 860,
                 "population": 2540, "party_members": 96, "township": "青山镇"},
    "grids": {"village": "红旗村", "name": "第1网格", "code": "36012110520101", "leader": "王建国",
              "workers": 1, "households": 172},
    "disputes": {"case_no": "HQ-2024-001", "village": "红旗村", "grid": "第1网格",
                 "category": "邻里纠纷", "reported_on": date(2024, 3, 5), "parties": 2,
                 "status": "resolved", "resolved_on": date(2024, 3, 8), "level": "grid",
                 "mediator": "李国强", "source": "网格排查", "note": "", "lon": "", "lat": ""},
    "volunteers": {"activity_no": "ZY-2024-001", "village": "红旗村", "grid": "第1网格",
                   "held_on": date(2024, 3, 5), "team": "红旗村党员先锋队", "category": "环保清洁",
                   "participants": 12, "hours": 2.5, "points": 30, "beneficiaries": 40, "note": ""},
    "visits": {"record_no": "ZF-2024-001", "village": "红旗村", "rep_name": "张秀英",
               "rep_type": "npc", "visited_on": date(2024, 3, 5), "form": "home", "voters": 8,
               "suggestions": 3, "resolved": 2, "referred": 1, "note": ""},
    "suggestions": {"sugg_no": "JY-2024-001", "village": "红旗村", "rep_name": "张秀英",
                    "collected_on": date(2024, 3, 5), "category": "道路交通", "handling": "referred",
                    "department": "镇交通管理站", "referred_on": date(2024, 3, 7),
                    "replied_on": date(2024, 3, 28), "satisfaction": "satisfied", "note": ""},
}


def _expected(kind: str, name: str, v) -> set[str]:
    """How the example value reads back from the template (either language's label)."""
    from loaders.read import _cell
    f = spec.field(kind, name)
    if f.type == "enum":
        return {v, t(f"enum.{f.enum}.{v}", "zh"), t(f"enum.{f.enum}.{v}", "en")}
    return {_cell(v)}


def example_rows(raw, kind: str, mapping: dict[str, str] | None = None):
    """Mask of the rows that are the template's example row: every example value present in
    the file as written in the template, and the row marked as the example (its note says
    so) or the file still the template workbook (its rules sheet is there). A clerk who
    overwrites the example with real data changes at least one value; a real village that
    happens to match the example in a file of its own is not marked."""
    import numpy as np
    from loaders import normalise as N
    m, _ = N.match_headers(raw.headers, kind, mapping)
    ex = {k: v for k, v in EXAMPLES[kind].items() if v != "" and k != "note" and k in m}
    n = len(raw.frame)
    if len(ex) < 3 or not n:
        return np.zeros(n, dtype=bool)
    langs = ("zh", "en")
    if {t("loader.template.rules_sheet", lg) for lg in langs} & set(raw.sheets or []):
        mask = np.ones(n, dtype=bool)
    elif "note" in m:
        marks = {t("loader.template.example_note", lg) for lg in langs}
        mask = raw.frame[m["note"]].str.strip().isin(marks).to_numpy(dtype=bool)
    else:
        return np.zeros(n, dtype=bool)
    for k, v in ex.items():
        mask = mask & raw.frame[m[k]].str.strip().isin(_expected(kind, k, v)).to_numpy(dtype=bool)
        if not mask.any():
            break
    return mask


def _rule(kind: str, f: spec.Field, lang: str) -> str:
    if f.name == spec.RECORD_NO.get(kind):
        return t("loader.template.rule_record_no", lang)
    if f.type == "enum":
        choices = "、".join(t(f"enum.{f.enum}.{c}", lang) for c in spec.ENUMS[f.enum])
        return t("loader.template.rule_enum", lang, choices=choices)
    if f.type in ("int", "float", "date", "village", "grid", "code"):
        return t(f"loader.template.rule_{f.type}", lang)
    return t("loader.template.rule_text", lang, max=f.max_len or 2000)


def build(kind: str, lang: str = "zh") -> bytes:
    import xlsxwriter
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                   "strings_to_urls": False})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    req = wb.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1, "text_wrap": True})
    datef = wb.add_format({"num_format": "yyyy-mm-dd"})
    textf = wb.add_format({"num_format": "@"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    ws = wb.add_worksheet(t("loader.template.data_sheet", lang))
    lists = wb.add_worksheet(t("loader.template.lists_sheet", lang))
    rules = wb.add_worksheet(t("loader.template.rules_sheet", lang))
    flds = [f for f in spec.fields(kind) if f.name not in ("lon", "lat") and f.template]
    ex = dict(EXAMPLES[kind])
    if any(f.name == "note" for f in flds):
        ex["note"] = t("loader.template.example_note", lang)
    # the example row in grey italics (and its note says so): the reader skips it
    exf = {"font_color": "#808080", "italic": True}
    datef_ex = wb.add_format({**exf, "num_format": "yyyy-mm-dd"})
    plain_ex = wb.add_format(exf)
    list_col = 0
    for j, f in enumerate(flds):
        header = f.aliases[0] if lang == "zh" else t(f"loader.field.{kind}.{f.name}", lang)
        ws.write(0, j, header, req if f.required else head)
        ws.set_column(j, j, max(10, len(header) * 2 + 2),
                      textf if f.type == "code" or f.name in ("code",) else None)
        v = ex.get(f.name, "")
        if f.type == "enum" and v:
            ws.write_string(1, j, t(f"enum.{f.enum}.{v}", lang), plain_ex)
        elif isinstance(v, date):
            ws.write_datetime(1, j, __import__("datetime").datetime(v.year, v.month, v.day),
                              datef_ex)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            ws.write_number(1, j, v, plain_ex)
        elif v != "":
            ws.write_string(1, j, str(v), plain_ex)
        if f.type == "enum":
            labels = [t(f"enum.{f.enum}.{c}", lang) for c in spec.ENUMS[f.enum]]
            lists.write(0, list_col, header, head)
            for i, lab in enumerate(labels):
                lists.write_string(i + 1, list_col, lab)
            col_letter = xlsxwriter.utility.xl_col_to_name(list_col)
            ref = f"='{lists.get_name()}'!${col_letter}$2:${col_letter}${len(labels) + 1}"
            ws.data_validation(1, j, 5000, j, {"validate": "list", "source": ref,
                                               "error_type": "warning"})
            list_col += 1
        elif f.type == "date":
            ws.data_validation(1, j, 5000, j, {"validate": "date", "criteria": ">=",
                                               "minimum": __import__("datetime").date(1990, 1, 1),
                                               "error_type": "warning"})
            ws.set_column(j, j, 14, datef)
        elif f.type == "int":
            ws.data_validation(1, j, 5000, j, {"validate": "integer", "criteria": ">=", "minimum": 0,
                                               "error_type": "warning"})
    ws.freeze_panes(1, 0)
    rules.set_column(0, 0, 22)
    rules.set_column(1, 1, 8)
    rules.set_column(2, 2, 60)
    rules.set_column(3, 3, 50)
    rules.write_row(0, 0, [t("loader.template.col_field", lang), t("loader.template.col_required", lang),
                           t("loader.template.col_rule", lang), t("loader.template.col_aliases", lang)],
                    head)
    for i, f in enumerate(flds, start=1):
        header = f.aliases[0] if lang == "zh" else t(f"loader.field.{kind}.{f.name}", lang)
        rules.write_string(i, 0, header)
        rules.write_string(i, 1, t("loader.template.yes" if f.required else "loader.template.no", lang))
        rules.write_string(i, 2, _rule(kind, f, lang), wrap)
        rules.write_string(i, 3, "、".join(f.aliases[1:]), wrap)
    r = len(flds) + 2
    for key in ("general",) + {"volunteers": ("hours_rule",), "disputes": ("resolved_rule",),
                               "visits": ("outcomes_rule",),
                               "suggestions": ("referral_rule",)}.get(kind, ()):
        rules.merge_range(r, 0, r, 3, t(f"loader.template.{key}", lang), wrap)
        rules.set_row(r, 48)
        r += 1
    wb.close()
    return buf.getvalue()
