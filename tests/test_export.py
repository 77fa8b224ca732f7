"""Table downloads: formula injection neutralised, CSV in UTF-8 with BOM, numbers left alone."""
import io

import openpyxl
import pandas as pd
import pytest

from dashboard import export
from dashboard.export import neutralise, safe_frame, table_to_csv, table_to_xlsx

DANGEROUS = ["=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x","点我")']


@pytest.mark.parametrize("text", DANGEROUS)
def test_each_dangerous_prefix_gets_an_apostrophe(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["东湖社区", "a=b", "", " =x", 5, -3, 2.5, None])
def test_harmless_values_are_unchanged(value):
    assert neutralise(value) == value


def _frame():
    return pd.DataFrame({"村（社区）": ["东湖社区", *DANGEROUS], "化解率": [0.5] + [-1.0] * len(DANGEROUS),
                         "件数": list(range(-3, -3 + len(DANGEROUS) + 1))})


def test_csv_is_utf8_with_bom_and_neutralised():
    data = table_to_csv(_frame())
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False)
    assert list(back.columns) == ["村（社区）", "化解率", "件数"]
    assert back["村（社区）"][0] == "东湖社区"
    for cell in back["村（社区）"][1:]:
        assert cell.startswith("'"), cell
    assert back["件数"].tolist() == list(range(-3, -3 + len(DANGEROUS) + 1))  # numbers stay numbers
    assert back["化解率"].tolist()[1] == -1.0


def test_xlsx_cells_are_text_never_formulas():
    wb = openpyxl.load_workbook(io.BytesIO(table_to_xlsx(_frame(), sheet_name="排名")))
    ws = wb["排名"]
    names = [c.value for c in ws["A"]][1:]
    assert names[0] == "东湖社区"
    for cell in ws["A"][2:]:
        assert cell.data_type == "s" and cell.value.startswith("'"), cell.value
    assert all(c.data_type == "n" for c in ws["C"][1:])
    assert ws["C2"].value == -3


def test_header_and_labelled_index_are_neutralised_too():
    df = pd.DataFrame({"=bad": ["x"]}, index=pd.Index(["@idx"], name="名"))
    safe = safe_frame(df)
    assert list(safe.columns) == ["'=bad"] and list(safe.index) == ["'@idx"]
    text = table_to_csv(df).decode("utf-8-sig")
    assert "'=bad" in text and "'@idx" in text


def test_default_range_index_is_not_written():
    text = table_to_csv(pd.DataFrame({"a": [1, 2]})).decode("utf-8-sig")
    assert text.splitlines() == ["a", "1", "2"]


FULL_WIDTH = ["＝1+1", "＋1", "－1", "＠SUM(A1)"]


@pytest.mark.parametrize("text", FULL_WIDTH)
def test_full_width_formula_characters_are_neutralised(text):
    # a Chinese input method types these; WPS/Excel make them ASCII when the cell is edited
    assert neutralise(text) == "'" + text


def test_every_cell_header_index_and_their_names_are_neutralised():
    cols = pd.MultiIndex.from_tuples([("=a", "+b"), ("c", "@d")], names=["-n", "x"])
    ix = pd.MultiIndex.from_tuples([("＝r", 1), ("s", 2)], names=["@i", "j"])
    df = pd.DataFrame([["=1", 5], ["ok", -5]], index=ix, columns=cols)
    safe = safe_frame(df)
    assert list(safe.columns) == [("'=a", "'+b"), ("c", "'@d")]
    assert list(safe.columns.names) == ["'-n", "x"]
    assert list(safe.index) == [("'＝r", 1), ("s", 2)] and list(safe.index.names) == ["'@i", "j"]
    assert safe.iloc[:, 0].tolist() == ["'=1", "ok"] and safe.iloc[:, 1].tolist() == [5, -5]
    one = pd.DataFrame({"a": ["x"]}, index=pd.Index(["y"], name="=名"))
    assert table_to_csv(one).decode("utf-8-sig").splitlines() == ["'=名,a", "y,x"]


def test_mixed_object_column_keeps_numbers_and_neutralises_text():
    df = pd.DataFrame({"v": [-3, "-3", None, "＋x", 2.5]})
    assert safe_frame(df)["v"].tolist()[:2] == [-3, "'-3"]
    assert safe_frame(df)["v"].tolist()[3:] == ["'＋x", 2.5]


def test_duplicate_column_names_are_all_neutralised():
    df = pd.DataFrame([["=1", "=2"]], columns=["名", "名"])
    assert safe_frame(df).values.tolist() == [["'=1", "'=2"]]


def test_export_is_the_only_csv_or_excel_writer():
    """Every CSV/XLSX byte leaves through dashboard/export.py: one writer of each kind there, none elsewhere."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"\.to_csv\(|csv\.writer\(|\.to_excel\(")
    hits = [f"{p.relative_to(root)}:{n}" for d in ("dashboard", "pages", "loaders")
            for p in sorted((root / d).rglob("*.py"))
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert [h.split(":")[0] for h in hits] == ["dashboard/export.py", "dashboard/export.py"], hits


def test_every_download_button_is_made_at_the_click_after_a_login_check():
    """st.download_button is called in one place, dashboard/ui/downloads.py, which hands it
    export.at_click (the file is made when pressed, for a login still valid then)."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"download_button\(")
    hits = [f"{p.relative_to(root)}:{n}" for d in ("dashboard", "pages", "loaders")
            for p in sorted((root / d).rglob("*.py")) + ([root / "app.py"] if d == "pages" else [])
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert [h.split(":")[0] for h in hits] == ["dashboard/ui/downloads.py"], hits


def test_at_click_asks_first_and_makes_nothing_for_a_dead_login():
    made = []

    def make():
        made.append(1)
        return b"x"
    assert export.at_click(make, lambda: True)() == b"x" and made == [1]
    with pytest.raises(export.DownloadRefused):
        export.at_click(make, lambda: False)()
    assert made == [1]
    assert export.at_click(b"bytes", lambda: True)() == b"bytes"
