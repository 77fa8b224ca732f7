"""`python -m dashboard report`: every format, village filter, calendar period detection, errors."""
import io
from datetime import date

import pytest
from pptx import Presentation
from pypdf import PdfReader

from dashboard.__main__ import main
from dashboard.commands.report import period_of


@pytest.mark.parametrize("fmt", ["pptx", "pdf", "html"])
def test_each_format_is_written(demo_url, tmp_path, fmt, capsys):
    out = tmp_path / f"r.{fmt}"
    rc = main(["report", "--db", demo_url, "--format", fmt, "--from", "2025-07-01", "--to", "2025-09-30",
               "--out", str(out), "--no-map", "--preparer", "赵六"])
    assert rc == 0, capsys.readouterr()
    data = out.read_bytes()
    if fmt == "pptx":
        assert len(Presentation(io.BytesIO(data)).slides) >= 9
    elif fmt == "pdf":
        first = PdfReader(io.BytesIO(data)).pages[0].extract_text()
        assert "2025年第3季度" in first and "赵六" in first
    else:
        assert data.startswith(b"<!DOCTYPE html>")
    assert "2025年第3季度" in capsys.readouterr().out


def test_village_filter_and_format_from_suffix(demo_url, tmp_path):
    out = tmp_path / "two.pdf"
    assert main(["report", "--db", demo_url, "--from", "2025-07-01", "--to", "2025-08-15", "--village",
                 "东湖社区", "--village", "白沙村", "--out", str(out), "--no-map", "--orientation",
                 "portrait"]) == 0
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages]
    assert "东湖社区、白沙村" in pages[0] and "2025-07-01 至 2025-08-15" in pages[0]
    ranking = next(p for p in pages if "排名" in p)
    assert "东湖社区" in ranking and "青山社区" not in ranking


def _args(demo_url, tmp_path, *extra, start="2025-07-01", end="2025-09-30"):
    return ["report", "--db", demo_url, "--no-map", "--from", start, "--to", end,
            "--out", str(tmp_path / "x.pdf"), *extra]


def test_unknown_village_exits_2_naming_it(demo_url, tmp_path, capsys):
    assert main(_args(demo_url, tmp_path, "--village", "不存在村")) == 2
    err = capsys.readouterr().err
    assert "unknown village(s): 不存在村" in err and "东湖社区" in err
    assert not (tmp_path / "x.pdf").exists()


def test_end_before_start_exits_2(demo_url, tmp_path, capsys):
    assert main(_args(demo_url, tmp_path, end="2025-06-30")) == 2
    assert "before" in capsys.readouterr().err


def test_unknown_format_is_refused(demo_url, tmp_path):
    with pytest.raises(SystemExit):
        main(_args(demo_url, tmp_path, "--format", "doc"))
    assert main(["report", "--db", demo_url, "--from", "2025-07-01", "--to", "2025-09-30",
                 "--out", str(tmp_path / "x.docx")]) == 2


@pytest.mark.parametrize("a, b, kind, label", [
    (date(2025, 7, 1), date(2025, 9, 30), "quarter", "2025年第3季度"),
    (date(2025, 2, 1), date(2025, 2, 28), "month", "2025年2月"),
    (date(2025, 1, 1), date(2025, 12, 31), "year", "2025年"),
    (date(2025, 7, 1), date(2025, 8, 15), "custom", "2025-07-01 至 2025-08-15"),
])
def test_calendar_periods_are_recognised(a, b, kind, label):
    p = period_of(a, b)
    assert p.kind == kind and p.label("zh") == label
