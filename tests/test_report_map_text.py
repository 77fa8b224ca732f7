"""Chinese and digits visible in the map picture of the PPTX/PDF exports, in each font
situation (issue 14): Chromium draws the map, and fontconfig chooses its fonts per character.

OCR-free and exact: the same map is drawn with titles that differ only in their digits, or
only in their Chinese. A font without those characters draws the same .notdef box for each,
so the two pictures would be identical; real glyphs make them differ. The font situation is
set for the browser with FONTCONFIG_FILE (the browser inherits the environment).
"""
import io
import os

import pytest
from PIL import Image, ImageChops

from dashboard import periods
from dashboard.db.engine import get_engine
from tests.test_report_fonts import SITUATIONS, font_folder

Q = periods.quarter(2025, 3)
BASE = "青山镇 2025年第3季度 95.1%"
OTHER_DIGITS = "青山镇 3846年第7季度 27.3%"
OTHER_CHINESE = "白沙村 2025年第3季度 95.1%"


@pytest.fixture(scope="module")
def layers(demo_url, chromium):
    maps = pytest.importorskip("dashboard.maps")
    from dashboard.queries import map as qmap
    with get_engine(demo_url).connect() as conn:
        return maps, qmap.layers(conn, Q, "resolution_rate", None)


def _fontconfig(tmp_path, situation) -> str | None:
    if situation == "system":
        return None
    folder = font_folder(tmp_path / situation, SITUATIONS[situation][0])
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"""<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>{folder}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>""",
                    encoding="utf-8")
    return str(conf)


def _changed_pixels(a: bytes, b: bytes) -> int:
    ia, ib = Image.open(io.BytesIO(a)).convert("L"), Image.open(io.BytesIO(b)).convert("L")
    assert ia.size == ib.size
    diff = ImageChops.difference(ia, ib).point(lambda v: 255 if v > 40 else 0)
    return sum(1 for v in diff.getdata() if v)


@pytest.mark.parametrize("situation", ["system", "noto_and_droid", "droid_and_dejavu", "wqy_only"])
def test_map_picture_draws_chinese_and_digits(situation, layers, tmp_path, monkeypatch):
    maps, data = layers
    conf = _fontconfig(tmp_path, situation)
    if conf:
        monkeypatch.setenv("FONTCONFIG_FILE", conf)
    kw = dict(metric_key="resolution_rate", level="village", lang="zh", width=700, height=450)
    base = maps.map_png(data, title=BASE, **kw)
    digits = maps.map_png(data, title=OTHER_DIGITS, **kw)
    chinese = maps.map_png(data, title=OTHER_CHINESE, **kw)
    assert base.startswith(b"\x89PNG")
    # each differing glyph changes dozens of pixels; a .notdef box changes none
    assert _changed_pixels(base, digits) > 150
    assert _changed_pixels(base, chinese) > 150


def test_the_check_sees_missing_digits(layers, tmp_path, monkeypatch):
    """The method's control: with Droid fallback alone (no digits) Chromium draws the same box
    for every digit, and the two pictures are identical."""
    maps, data = layers
    monkeypatch.setenv("FONTCONFIG_FILE", _fontconfig(tmp_path, "droid_only"))
    kw = dict(metric_key="resolution_rate", level="village", lang="zh", width=700, height=450)
    assert _changed_pixels(maps.map_png(data, title=BASE, **kw),
                           maps.map_png(data, title=OTHER_DIGITS, **kw)) == 0
