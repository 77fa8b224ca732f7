"""Meeting reports: one deck model, three exporters.

``build_deck(conn, period, village_ids, lang, target) -> Deck`` assembles the slides
(title, KPIs, disputes, volunteers, visits, grid map, village ranking, alerts,
briefing) from the metric registry; ``to_pptx``, ``to_pdf`` and ``to_html`` lay the
same deck out as PowerPoint (native charts), A4 PDF (fonts embedded) and a single
offline HTML file. ``briefing`` is the 文字简报 on its own.
"""
from dashboard.report.briefing import briefing
from dashboard.report.build import build_deck, map_image, with_map_image
from dashboard.report.deck import Chart, Deck, Kpi, MapImage, Series, Slide, Table


def to_pptx(deck: Deck) -> bytes:
    from dashboard.report.pptx_out import to_pptx as f
    return f(deck)


def to_pdf(deck: Deck, orientation: str = "landscape", font_dirs=None) -> bytes:
    from dashboard.report.pdf_out import to_pdf as f
    return f(deck, orientation, font_dirs)


def to_onepage(deck: Deck, font_dirs=None) -> bytes:
    """一页纸: the headline figures on one A4 page, for printing beside the full report."""
    from dashboard.report.pdf_out import to_onepage as f
    return f(deck, font_dirs)


def to_html(deck: Deck) -> str:
    from dashboard.report.html_out import to_html as f
    return f(deck)


def ranking_frame(deck: Deck):
    """The village ranking as a DataFrame of numbers (rates in %), for Excel/CSV downloads."""
    import pandas as pd
    from dashboard.i18n import t
    tb = deck.slide("ranking").table
    df = pd.DataFrame(tb.raw, columns=tb.columns).set_index(tb.columns[0])
    if deck.demo:  # every row says so: a row pasted elsewhere still reads 演示数据
        df[t("meeting.col_data_kind", deck.lang)] = deck.mark
    return df


__all__ = ["build_deck", "map_image", "with_map_image", "briefing", "to_pptx", "to_pdf", "to_onepage", "to_html", "ranking_frame", "Deck", "Slide", "Chart",
           "Series", "Table", "Kpi", "MapImage"]
