"""A deck slide cut into pages that fit one screen or one PowerPoint slide.

The deck holds the whole ranking and every alert; the presentation page and the PPTX show
them a screenful at a time. The ranking is split evenly over up to ``SLIDE_TABLE_PAGES``
pages; a longer one (a county's 500 villages) becomes its top and its bottom villages, the
bottom page worst first, since that page is about problems. Text slides (alerts, briefing)
are packed by an estimate of their wrapped lines; one item longer than a page continues on
the next at a 、/，/； boundary. Everything here is plain data (the slides are copies).
"""
from __future__ import annotations

import math
from dataclasses import replace

from dashboard import settings
from dashboard.i18n import t
from dashboard.report.deck import Slide, Table


def _chunks(n: int, per_page: int) -> list[tuple[int, int]]:
    parts = max(1, math.ceil(n / per_page))
    size = max(1, math.ceil(n / parts))
    return [(i, min(n, i + size)) for i in range(0, n, size)] or [(0, 0)]


def _sub(tb: Table, idx: list[int]) -> Table:
    return replace(tb, rows=[tb.rows[i] for i in idx], raw=[tb.raw[i] for i in idx if i < len(tb.raw)],
                   highlight=[j for j, i in enumerate(idx) if i in set(tb.highlight)])


def table_pages(s: Slide, lang: str, per_page: int = settings.SLIDE_TABLE_ROWS,
                max_pages: int = settings.SLIDE_TABLE_PAGES,
                split: int = settings.SLIDE_SPLIT_ROWS) -> list[Slide]:
    """The table slide as pages: [whole] / even parts / [top split, bottom split worst first]."""
    tb = s.table
    n = len(tb.rows)
    if n <= per_page * max_pages:
        parts = _chunks(n, per_page)
        if len(parts) == 1:
            return [s]
        return [replace(s, title=t("meeting.slide_part", lang, title=s.title, i=k + 1, n=len(parts)),
                        table=_sub(tb, list(range(a, b))))
                for k, (a, b) in enumerate(parts)]
    k = min(split, per_page)
    return [replace(s, title=t("meeting.slide_top", lang, title=s.title, n=k), table=_sub(tb, list(range(k)))),
            replace(s, title=t("meeting.slide_bottom", lang, title=s.title, n=k),
                    table=_sub(tb, list(range(n - 1, n - k - 1, -1))))]


def text_width(text: str) -> float:
    """Width in CJK characters (Latin letters, digits and ASCII punctuation count about half)."""
    return sum(0.55 if ord(ch) < 0x2E80 else 1.0 for ch in text)


def _rows(text: str, chars_per_line: float) -> int:
    return max(1, math.ceil(text_width(text) / chars_per_line))


def _cut(text: str, chars_per_line: float, rows: int) -> list[str]:
    """A text too long for one page, in pieces of at most ``rows`` lines, cut after 、，；."""
    limit = chars_per_line * rows
    out, cur = [], ""
    for ch in text:
        cur += ch
        if text_width(cur) >= limit * 0.95:
            cut = max(cur.rfind(x) for x in "、，；, ")
            head, cur = (cur[:cut + 1], cur[cut + 1:]) if cut > len(cur) // 2 else (cur, "")
            out.append(head)
    if cur:
        out.append(cur)
    return out


def text_pages(lines: list[str], chars_per_line: float, rows_per_page: int,
               row_gap: float = 0.5) -> list[list[str]]:
    """Lines packed into pages of ``rows_per_page`` wrapped rows (each line costs ``row_gap``
    rows more for the space between paragraphs)."""
    pages, cur, used = [], [], 0.0
    pieces = []
    for line in lines:
        if _rows(line, chars_per_line) + row_gap > rows_per_page:
            pieces += _cut(line, chars_per_line, int(rows_per_page - row_gap))
        else:
            pieces.append(line)
    for p in pieces:
        need = _rows(p, chars_per_line) + row_gap
        if cur and used + need > rows_per_page:
            pages.append(cur)
            cur, used = [], 0.0
        cur.append(p)
        used += need
    if cur or not pages:
        pages.append(cur)
    return pages


def text_slides(s: Slide, lang: str, chars_per_line: float, rows_per_page: int) -> list[Slide]:
    pages = text_pages(s.lines, chars_per_line, rows_per_page)
    if len(pages) == 1:
        return [s]
    return [replace(s, lines=p, title=s.title if i == 0 else t("meeting.slide_more", lang, title=s.title, i=i))
            for i, p in enumerate(pages)]
