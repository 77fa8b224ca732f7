"""会议汇报 presentation mode: slide state, options, slide rendering and the report downloads.

The slides are the report deck (``dashboard.report.build_deck``), cached per data
version, so the screen, the PPTX, the PDF and the HTML show the same figures. The map
picture (seconds of headless Chromium) is drawn, and cached, only when the map slide is
shown or a file is downloaded; opening the page never waits for it.
Presenting hides the sidebar and Streamlit's header with CSS, enlarges the type,
and moves between slides with the 上一页/下一页 buttons, whose keyboard shortcuts
are ← and →; PageUp/PageDown (presentation clickers) press the same buttons.
"""
from __future__ import annotations

import html

import streamlit as st

from dashboard import export, fmt, report, settings
from dashboard.report import html_out, paging
from dashboard.report.deck import Deck, Slide
from dashboard.report.figures import FONT_FAMILY, figure
from dashboard.ui import common as ui
from dashboard.ui import downloads as dl

SLIDE = "meeting_slide"
PRESENT = "meeting_presenting"
OPTS = "meeting_opts"
NEXT, PREV = "meeting_next", "meeting_prev"

# Every size on a slide is in units of U (1 % of the screen's height, or of a 16:9 box's height
# on a narrower screen): a slide looks the same on a 768-pixel laptop and a 1080p projector,
# only scaled, and the smallest text is settings.SLIDE_MIN_FONT_PX on a 1080p screen.
U = "min(1vh, .5625vw)"
MIN_FONT = f"calc({U} * {100 * settings.SLIDE_MIN_FONT_PX / settings.SLIDE_HEIGHT_PX:.4f})"
CTRL = "3.2rem"                 # the control row above the slide while presenting
# What one screen of text holds at the slide's text size (2.6 U, 1.6 line height) on a 16:9
# screen: the alerts and the briefing are paged by it (dashboard.report.paging).
TEXT_CHARS_PER_LINE, TEXT_ROWS_PER_PAGE = 62, 15
CHART_FONT_PX = settings.SLIDE_MIN_FONT_PX + 2   # plotly sizes text in pixels, whatever the screen

CSS = """
.mt-slide{font-family:FONT;border:1px solid #e5ded5;border-radius:6px;overflow:hidden;background:#fff}
.mt-band{background:#b22222;color:#fff;padding:.6rem 1.4rem;display:flex;justify-content:space-between;
  align-items:center}
.mt-band h2{margin:0;padding:0;color:#fff;font-size:SIZE_H2} .mt-band span{font-size:SIZE_SUB}
.mt-body{padding:1rem 1.4rem} .mt-body p{font-size:SIZE_P;line-height:1.65;margin:.35rem 0}
.mt-title{text-align:center;padding:3rem 1rem} .mt-title h1{color:#b22222;font-size:SIZE_H1;margin:0}
.mt-title h3{font-size:SIZE_H2;font-weight:normal;margin:.4rem 0 1.6rem}
.mt-slide .kpis{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:1rem}
.mt-slide .kpi{background:#f7f3ee;border:1px solid #d8cfc4;border-radius:10px;padding:.8rem 1rem}
.mt-slide .kpi .n{font-size:SIZE_P;font-weight:bold} .mt-slide .kpi .v{font-size:SIZE_KPI;color:#b22222;
  font-weight:bold;line-height:1.2} .mt-slide .kpi .v small{font-size:SIZE_SUB}
.mt-slide .kpi .c{font-size:SIZE_SMALL;color:#666}
.mt-slide .good{color:#1b7f3b!important} .mt-slide .bad{color:#b22222!important}
.mt-slide table{border-collapse:collapse;width:100%;font-size:SIZE_TABLE}
.mt-slide th{background:#b22222;color:#fff;padding:.3rem} .mt-slide td{border:1px solid #ddd;padding:.2rem .45rem}
.mt-slide td.num{text-align:right} .mt-slide tr.low td{color:#b22222}
.mt-slide .brief p{font-size:SIZE_BRIEF;line-height:1.9;text-indent:2em}
.mt-slide ul.alerts li{font-size:SIZE_BRIEF;line-height:1.7;margin:.4rem 0}
.mt-slide .note{color:#666;font-size:SIZE_SMALL}
"""
SIZES = {False: dict(H1="2.2rem", H2="1.5rem", SUB="1rem", P="1.05rem", KPI="2rem", SMALL=".9rem",
                     TABLE=".85rem", BRIEF="1.15rem"),
         True: dict(H1=f"calc({U} * 6)", H2=f"calc({U} * 3.6)", SUB=f"calc({U} * 2.6)", P=f"calc({U} * 2.8)",
                    KPI=f"calc({U} * 7)", SMALL=MIN_FONT, TABLE=f"calc({U} * 2.2)", BRIEF=f"calc({U} * 2.6)")}

# While presenting the slide is one screen high: the control row, then the slide filling the rest
# (padding and gaps in U too, so nothing is pushed below the screen's edge).
PRESENT_CSS = f"""
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], header[data-testid="stHeader"], [data-testid="stToolbar"],
[data-testid="stDecoration"], [data-testid="stStatusWidget"] {{display:none !important}}
.block-container, [data-testid="stMainBlockContainer"] {{padding:.4rem 1.2rem 0 !important;
  max-width:100% !important}}
[data-testid="stMain"] {{overflow:hidden}}
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"] {{gap:.4rem}}
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"] > [data-testid="stElementContainer"]:has(
  .mt-presenting, script) {{display:none}}
.st-key-mt_stage {{height:calc(100vh - {CTRL}) !important; flex:0 0 auto !important; overflow:hidden; gap:{U} !important;
  flex-wrap:nowrap !important}}
.st-key-mt_stage .mt-slide {{border:0}}
.st-key-mt_stage .mt-band {{padding:calc({U} * 1) calc({U} * 2.4)}}
.st-key-mt_stage .mt-body {{padding:calc({U} * 1.2) calc({U} * 2.4)}}
.st-key-mt_stage .mt-body p {{margin:calc({U} * .4) 0}}
.st-key-mt_stage .mt-title {{padding:calc({U} * 14) {U} 0}} .st-key-mt_stage .mt-title h3 {{margin-bottom:calc({U} * 5)}}
.st-key-mt_stage .mt-title p {{font-size:calc({U} * 2.4); margin:calc({U} * .6) 0}}
.st-key-mt_stage .kpis {{gap:calc({U} * 2.4); margin-top:calc({U} * 2)}}
.st-key-mt_stage .kpi {{padding:calc({U} * 2) calc({U} * 2.4)}} .st-key-mt_stage .kpi .c {{font-size:calc({U} * 2.6)}}
.st-key-mt_stage .kpi .n {{font-size:calc({U} * 3)}} .st-key-mt_stage .kpis + .note {{margin-top:calc({U} * 2)}}
.st-key-mt_stage th {{font-size:{MIN_FONT}}}
.st-key-mt_stage th, .st-key-mt_stage td {{padding:calc({U} * .25) calc({U} * .6); line-height:1.3}}
.st-key-mt_stage .brief p, .st-key-mt_stage ul.alerts li {{line-height:1.6; margin:calc({U} * .8) 0}}
.st-key-mt_stage > [data-testid="stLayoutWrapper"] {{flex:1 1 0; min-height:0}}
.st-key-mt_stage > [data-testid="stLayoutWrapper"] :is([data-testid="stHorizontalBlock"], [data-testid="stColumn"],
  [data-testid="stVerticalBlock"], [data-testid="stElementContainer"], [data-testid="stFullScreenFrame"],
  [data-testid="stPlotlyChart"]) {{height:100% !important; min-height:0}}
.st-key-mt_stage [data-testid="stImage"] img {{max-height:calc(100vh - {CTRL} - {U} * 24);
  width:auto !important; max-width:100%; margin:0 auto; display:block}}
.st-key-mt_stage [data-testid="stImage"] [data-testid="stCaptionContainer"],
.st-key-mt_stage [data-testid="stImageCaption"] {{font-size:{MIN_FONT} !important}}
[data-testid="stMainBlockContainer"] [data-testid="stButton"] button {{min-height:2.2rem; padding:.1rem .6rem}}
"""

CLICKER_JS = """
<script>
if (!window.__meetingKeys) {
  window.__meetingKeys = true;
  document.addEventListener('keydown', function (e) {
    var key = {PageDown: 'meeting_next', PageUp: 'meeting_prev'}[e.key];
    if (!key) return;
    var b = document.querySelector('.st-key-' + key + ' button');
    if (b) { b.click(); e.preventDefault(); }
  });
}
</script>
"""


# ---------------------------------------------------------------- state

def presenting() -> bool:
    return bool(st.session_state.get(PRESENT))


def _set_present(on: bool) -> None:
    st.session_state[PRESENT] = on


def _move(step: int, n: int) -> None:
    st.session_state[SLIDE] = max(0, min(n - 1, st.session_state.get(SLIDE, 0) + step))


def views(deck: Deck) -> list[Slide]:
    """The deck's slides as screens: a long ranking in parts (or its top and bottom), long
    alerts and briefings over several screens; the same ranking split as the PPTX."""
    out = []
    for s in deck.slides:
        if s.table is not None:
            out += paging.table_pages(s, deck.lang)
        elif s.kind in ("alerts", "briefing"):
            out += paging.text_slides(s, deck.lang, TEXT_CHARS_PER_LINE, TEXT_ROWS_PER_PAGE)
        else:
            out.append(s)
    return out


def index(deck: Deck) -> int:
    i = max(0, min(len(views(deck)) - 1, int(st.session_state.get(SLIDE, 0))))
    st.session_state[SLIDE] = i
    return i


def options() -> dict:
    """The export options (制表人, PDF orientation, map); kept in session state while presenting."""
    saved = st.session_state.get(OPTS) or {"preparer": ui.current_user().get("display_name") or "",
                                           "orientation": "landscape", "with_map": True}
    if presenting():
        return saved
    c1, c2, c3 = st.columns([2, 2, 1])
    preparer = c1.text_input(ui.t("meeting.preparer"), value=saved["preparer"], max_chars=50)
    orient = c2.radio(ui.t("meeting.orientation"), ["landscape", "portrait"], horizontal=True,
                      index=0 if saved["orientation"] == "landscape" else 1,
                      format_func=lambda o: ui.t(f"meeting.{o}"))
    with_map = c3.checkbox(ui.t("meeting.include_map"), value=saved["with_map"])
    st.session_state[OPTS] = {"preparer": preparer.strip(), "orientation": orient, "with_map": with_map}
    return st.session_state[OPTS]


def _build(conn, period, village_ids, lang, target, preparer, flag_villages="deck"):
    return report.build_deck(conn, period, village_ids, lang, target, preparer=preparer, defer_map=True,
                             flag_villages=flag_villages)


def _map(conn, period, village_ids, lang, with_map):
    from dashboard.report.build import MAP_METRIC
    from dashboard.ui import map as map_ui   # the map page's cached layers, shared both ways
    data = map_ui.layers(period, MAP_METRIC, village_ids) if with_map else None
    return report.map_image(conn, period, village_ids, lang, with_map, layers=data)


_cached_build = ui.cached(_build)
_cached_map = ui.cached(_map)


def deck(filters: ui.Filters, opts: dict) -> Deck:
    """The deck without its map picture: opening the page never waits for a headless Chromium.

    The map slide fills in when it is shown (``render_slide``) or a file is downloaded."""
    with st.spinner(ui.t("meeting.building")):
        from dashboard import quality   # the speaker notes count the flags of the viewer's places
        return _cached_build(filters.period, filters.village_ids, ui.lang(),
                             float(settings.get("DASHBOARD_TARGET_RATE")), opts["preparer"],
                             quality.visible_villages(ui.current_user(), filters.village_ids))


def map_image(filters: ui.Filters, opts: dict, lang: str | None = None):
    """The map slide's picture, cached per data version, period, villages, language and option."""
    return _cached_map(filters.period, filters.village_ids, lang or ui.lang(), bool(opts["with_map"]))


def complete(d: Deck, filters: ui.Filters, opts: dict, lang: str | None = None) -> Deck:
    """The deck with its map slide filled in (what the PPTX, PDF and HTML files contain)."""
    s = d.slide("map")
    if s is None or s.map is not None:
        return d
    return report.with_map_image(d, map_image(filters, opts, lang))


# ---------------------------------------------------------------- rendering

def _css(big: bool) -> str:
    css = CSS.replace("FONT", FONT_FAMILY)
    for k, v in SIZES[big].items():
        css = css.replace(f"SIZE_{k}", v)
    return css


def controls(d: Deck) -> None:
    """Start/exit, previous/next (← → shortcuts) and the slide counter."""
    n = len(views(d))
    i = index(d)
    c0, c1, c2, c3 = st.columns([1.4, 1.2, 1.2, 2.2], vertical_alignment="center")
    if presenting():
        # not style-only: a style-only st.html goes to the event container and outlives the rerun
        st.html(f'<style>{PRESENT_CSS}</style><div class="mt-presenting"></div>')
        c0.button(ui.t("meeting.exit"), key="meeting_exit", on_click=_set_present, args=(False,),
                  icon=":material/close_fullscreen:", shortcut="Esc")
    else:
        c0.button(ui.t("meeting.present"), key="meeting_start", type="primary", on_click=_set_present,
                  args=(True,), icon=":material/slideshow:")
    c1.button(ui.t("meeting.prev"), key=PREV, on_click=_move, args=(-1, n), disabled=i == 0,
              icon=":material/chevron_left:", shortcut="Left", width="stretch")
    c2.button(ui.t("meeting.next"), key=NEXT, on_click=_move, args=(1, n), disabled=i >= n - 1,
              icon=":material/chevron_right:", shortcut="Right", width="stretch")
    c3.markdown(f"**{fmt.md(ui.t('meeting.counter', n=i + 1, total=n))}** · {fmt.md(ui.t('meeting.keys_hint'))}")
    st.html(CLICKER_JS, unsafe_allow_javascript=True)


def _band(s: Slide) -> str:
    return (f'<div class="mt-band"><h2>{html.escape(s.title)}</h2>'
            f"<span>{html.escape(s.subtitle)}</span></div>")


def render_slide(d: Deck, i: int, filters: ui.Filters | None = None, opts: dict | None = None) -> None:
    s = views(d)[i]
    big = presenting()
    with st.container(key="mt_stage" if big else None):   # the spinner inside: the slide never moves
        if s.kind == "map" and s.map is None and filters is not None:
            with st.spinner(ui.t("meeting.building")):
                s = complete(d, filters, opts).slide("map")
        _render(d, s, i, big)


def _render(d: Deck, s: Slide, i: int, big: bool) -> None:
    style = f"<style>{_css(big)}</style>"
    if s.kind == "title":
        lines = "".join(f"<p>{html.escape(x)}</p>" for x in s.lines)
        st.html(f'{style}<div class="mt-slide mt-title"><h1>{html.escape(s.title)}</h1>'
                f"<h3>{html.escape(s.subtitle)}</h3>{lines}</div>")
        return
    if s.charts or s.kind == "map":
        lines = "".join(f"<p>{html.escape(x)}</p>" for x in s.lines)
        st.html(f'{style}<div class="mt-slide">{_band(s)}<div class="mt-body">{lines}</div></div>')
        if s.charts:
            cols = st.columns(len(s.charts))
            for col, c in zip(cols, s.charts):
                # presenting: the chart fills the screen's height below the band (CSS above)
                col.plotly_chart(figure(c, CHART_FONT_PX if big else 14, None if big else 420), width="stretch",
                                 height="stretch" if big else "content", theme=None,
                                 config={"displaylogo": False, "displayModeBar": not big, "responsive": True},
                                 key=f"meeting_chart_{i}_{c.title}")
        else:
            m = s.map
            if m and m.png:  # presenting: as high as the screen allows (CSS above), centred
                st.image(m.png, caption=m.note, width="stretch")
            elif m and m.html:
                st.iframe(m.html, height=640)
                st.caption(fmt.md(m.note))
            else:
                st.info(fmt.md(m.note if m else ""))
        return
    st.html(f'{style}<div class="mt-slide">{_band(s)}<div class="mt-body">'
            f"{html_out.slide_body(d, s)}</div></div>")


# ---------------------------------------------------------------- downloads

def files(d: Deck, opts: dict, filters: ui.Filters) -> dict:
    """The report files as callables that make them (with the map) only when called:
    {"pptx", "pdf", "onepage", "html", "xlsx", "csv"} -> () -> bytes."""
    lang = d.lang       # the callables may run outside the script run (no session state)
    orientation = opts["orientation"]
    table = report.ranking_frame(d)
    sheet = d.slide("ranking").title

    def full() -> Deck:
        return complete(d, filters, opts, lang)
    return {"pptx": lambda: report.to_pptx(full()),
            "pdf": lambda: report.to_pdf(full(), orientation),
            "onepage": lambda: report.to_onepage(d),
            "html": lambda: report.to_html(full()).encode("utf-8"),
            "xlsx": lambda: export.table_to_xlsx(table, sheet),
            "csv": lambda: export.table_to_csv(table)}


def downloads(d: Deck, opts: dict, filters: ui.Filters) -> None:
    """PPTX / PDF / HTML, and the ranking table as Excel/CSV; each file is made when clicked."""
    st.subheader(ui.t("meeting.downloads"))
    stem = f"{d.mark + '_' if d.demo else ''}{d.township}_{filters.period.start}_{filters.period.end}"
    make = files(d, opts, filters)
    c1, c2, c3 = st.columns(3)
    dl.button(c1, ui.t("meeting.download_pptx"), make["pptx"], file_name=f"{stem}.pptx",
              mime="application/vnd.openxmlformats-officedocument.presentationml.presentation",
              icon=":material/co_present:", key="meeting_dl_pptx", width="stretch")
    dl.button(c2, ui.t("meeting.download_pdf"), make["pdf"], file_name=f"{stem}.pdf",
              mime="application/pdf", icon=":material/picture_as_pdf:", key="meeting_dl_pdf", width="stretch")
    dl.button(c3, ui.t("meeting.download_html"), make["html"], file_name=f"{stem}.html",
              mime="text/html", icon=":material/html:", key="meeting_dl_html", width="stretch")
    sheet = d.slide("ranking").title
    c4, c5, c6 = st.columns(3)
    dl.button(c4, ui.t("meeting.download_xlsx"), make["xlsx"], file_name=f"{stem}_{sheet}.xlsx",
              mime=export.XLSX_MIME, icon=":material/table:", key="meeting_dl_xlsx", width="stretch")
    dl.button(c5, ui.t("meeting.download_csv"), make["csv"], file_name=f"{stem}_{sheet}.csv",
              mime=export.CSV_MIME, icon=":material/csv:", key="meeting_dl_csv", width="stretch")
    dl.button(c6, ui.t("meeting.download_onepage"), make["onepage"],
              file_name=f"{stem}_{ui.t('meeting.onepage_title')}.pdf", mime="application/pdf",
              icon=":material/description:", key="meeting_dl_onepage", width="stretch")
