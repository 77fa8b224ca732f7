"""The PDF's fonts in every font situation a server can be in (issue 14).

Debian's fonts-droid-fallback is a CJK font without digits, Latin letters or %; picked by
path it drew every figure as .notdef. Each test points the font search at a prepared folder
(symlinks to the fonts installed on this machine) and reads the PDF back: every figure of
the deck is in the extracted text, and no character is drawn with .notdef or an empty glyph
(checked in the embedded font programs themselves, since the text layer says the right
digit even when the glyph drawn is .notdef).
"""
import io
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from dashboard import fmt, periods
from dashboard.db.engine import get_engine
from dashboard.report import build_deck, fonts, to_onepage, to_pdf
from dashboard.report.pdf_out import pdf_font

Q = periods.quarter(2025, 3)
NOTO = Path("/usr/share/fonts/opentype/noto")
DROID = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")
WQY = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")

SITUATIONS = {
    # name: (files linked into the folder, face the PDF must be drawn with or None = CID)
    "noto_only": ([NOTO / "NotoSansCJK-Regular.ttc", NOTO / "NotoSansCJK-Bold.ttc"], "NotoSansCJK-Regular.ttc"),
    "noto_and_droid": ([NOTO / "NotoSansCJK-Regular.ttc", NOTO / "NotoSansCJK-Bold.ttc", DROID,
                        DEJAVU / "DejaVuSans.ttf"], "NotoSansCJK-Regular.ttc"),
    "droid_and_dejavu": ([DROID, DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf",
                          DEJAVU / "DejaVuSansMono.ttf"], "DroidSansFallbackFull.ttf"),
    "wqy_only": ([WQY], "wqy-zenhei.ttc"),
    "no_cjk_font": ([DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSerif.ttf"], None),
    "droid_only": ([DROID], None),
    "empty": ([], None),
}


def font_folder(root: Path, files) -> Path:
    missing = [f for f in files if not f.exists()]
    if missing:
        pytest.skip(f"font not installed: {missing}")
    root.mkdir(parents=True, exist_ok=True)
    for f in files:
        (root / f.name).symlink_to(f)
    return root


@pytest.fixture(scope="module")
def deck(demo_url):
    with get_engine(demo_url).connect() as conn:
        return build_deck(conn, Q, None, "zh", 0.9, preparer="王五", with_map=False)


def figures(deck) -> list[str]:
    """Every figure the deck prints: KPI values and changes, the ranking table, chart labels."""
    out = []
    for s in deck.slides:
        for k in s.kpis:
            out += [k.text, k.mom_text, k.yoy_text]
        if s.table is not None:
            out += [v for row in s.table.rows for v in row]
        for c in s.charts:
            for ser in c.series:
                out += [fmt.value(v, c.value_kind) for v in ser.values]
    return [x for x in out if any(ch.isdigit() for ch in x)]


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """pdftotext's text when poppler is installed (what a reader copies), else pypdf's."""
    if shutil.which("pdftotext"):
        f = tmp_path / "r.pdf"
        f.write_bytes(data)
        return subprocess.run(["pdftotext", str(f), "-"], capture_output=True, check=True).stdout.decode("utf-8")
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def notdef_drawn(data: bytes) -> list[tuple[str, str]]:
    """(font, character) for every character an embedded font draws with .notdef or with an
    empty outline (spaces excepted): read from each font's ToUnicode map and its own cmap."""
    bad, seen = set(), set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            name = str(font["/BaseFont"])
            desc = font.get("/FontDescriptor")
            if name in seen or desc is None or "/FontFile2" not in desc.get_object():
                continue
            seen.add(name)
            tt = TTFont(io.BytesIO(desc.get_object()["/FontFile2"].get_object().get_data()))
            cmap = tt["cmap"].tables[0].cmap
            tu = font["/ToUnicode"].get_object().get_data().decode("latin-1")
            for code, uni in re.findall(r"<([0-9A-Fa-f]{2})>\s*<([0-9A-Fa-f]{4,8})>", tu.split("beginbfchar", 1)[1]):
                ch = bytes.fromhex(uni).decode("utf-16-be")
                if unicodedata.category(ch)[0] == "C":
                    continue  # reportlab's reserved codes 0 and 127, never drawn
                g = cmap.get(int(code, 16), ".notdef")
                if g == ".notdef" or (not ch.isspace() and tt["glyf"][g].numberOfContours == 0):
                    bad.add((name, ch))
    return sorted(bad)


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_every_figure_printed_in_each_font_situation(situation, deck, tmp_path):
    files, expected = SITUATIONS[situation]
    folder = font_folder(tmp_path / situation, files)
    data = to_pdf(deck, "landscape", font_dirs=[folder])
    font = pdf_font(deck, [folder])
    text = re.sub(r"\s+", "", pdf_text(data, tmp_path))
    drawn = (lambda x: x) if font.embedded else fonts.cid_text  # STSong has no U+2212: drawn as -
    missing = [f for f in figures(deck) if re.sub(r"\s+", "", drawn(f)) not in text]
    assert not missing, missing[:10]
    for name in deck.village_names:
        assert name in text
    assert notdef_drawn(data) == []
    assert notdef_drawn(to_onepage(deck, font_dirs=[folder])) == []
    if expected is None:
        # no face draws the report: the reader's STSong (CID, not embedded), and a hint to install
        assert not font.embedded and font.regular == fonts.CID_FALLBACK and font.missing
        assert "/STSong-Light" in {str(f.get_object()["/BaseFont"]) for p in PdfReader(io.BytesIO(data)).pages
                                  for f in p["/Resources"]["/Font"].values()}
    else:
        assert font.embedded and font.source.split(" + ")[0].startswith(expected), font.source


def test_droid_fallback_keeps_its_chinese_and_takes_digits_from_dejavu(tmp_path):
    folder = font_folder(tmp_path / "d", SITUATIONS["droid_and_dejavu"][0])
    ch, rest = fonts.chain("青山镇 2025年第3季度 95.1%", [folder])
    assert [Path(f.path).name for f in ch] == ["DroidSansFallbackFull.ttf", "DejaVuSans.ttf"]
    assert rest == set()


def test_noto_is_preferred_whatever_else_is_installed(tmp_path):
    files = SITUATIONS["noto_and_droid"][0] + [WQY]
    folder = font_folder(tmp_path / "all", files)
    ch, rest = fonts.chain("青山镇 2025年第3季度 95.1%", [folder])
    assert [(Path(f.path).name, f.family) for f in ch] == [("NotoSansCJK-Regular.ttc", "Noto Sans CJK SC")]
    bold, _ = fonts.chain("青山镇", [folder], bold=True)
    assert bold[0].family == "Noto Sans CJK SC" and bold[0].style == "Bold"


def test_a_character_no_face_has_is_drawn_as_its_plain_equivalent(tmp_path):
    # WenQuanYi Zen Hei has no U+2212 (the minus of −21.0%): drawn with its hyphen, text stays −
    folder = font_folder(tmp_path / "w", [WQY])
    ch, rest = fonts.chain("下降 −21.0%", [folder])
    assert 0x2212 not in ch[0].codepoints and rest == set()


def test_font_folders_come_from_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_FONT_DIRS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert fonts.font_dirs() == [tmp_path / "a", tmp_path / "b"]
    assert fonts.font_dirs(["/x"]) == [Path("/x")]


def test_command_line_says_which_package_to_install(demo_url, tmp_path, monkeypatch, capsys):
    from dashboard.__main__ import main
    monkeypatch.setenv("DASHBOARD_FONT_DIRS", str(font_folder(tmp_path / "none", [])))
    out = tmp_path / "r.pdf"
    assert main(["report", "--db", demo_url, "--from", "2025-07-01", "--to", "2025-09-30",
                 "--out", str(out), "--no-map"]) == 0
    err = capsys.readouterr().err
    assert "sudo apt-get install fonts-noto-cjk" in err and "宋体" in err
    assert out.stat().st_size > 10_000


def test_the_regular_weight_is_chosen_among_many(tmp_path):
    """fonts-noto-cjk-extra adds Thin, Light, DemiLight, Medium and Black of the same family:
    the regular weight draws running text, Bold the headings."""
    faces = [fonts.Face(str(tmp_path / f"NotoSansCJK-{w}.ttc"), 2, "Noto Sans CJK SC", w) for w in
             ("Black", "Bold", "DemiLight", "Light", "Medium", "Regular", "Thin")]
    cps = frozenset(range(32, 0x10000))
    for f in faces:
        fonts._CMAPS[(f.path, f.index, f.stamp)] = cps
    import unittest.mock as mock
    with mock.patch.object(fonts, "faces", lambda dirs=None: faces):
        assert fonts.chain("青山镇 95.1%")[0][0].style == "Regular"
        assert fonts._bold_chain([faces[5]], "青山镇", None)[0].style == "Bold"
