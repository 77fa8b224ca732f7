"""The data-quality flags panel (数据质量): a collapsed expander with the count, each flag's written
rule, place, period and the rows behind it, and a CSV of them all (dashboard.export)."""
from __future__ import annotations

import streamlit as st

from dashboard import export, fmt, quality
from dashboard.ui import common as ui
from dashboard.ui import downloads as dl

DETAILED = 40   # flags shown one by one in the panel; the table above and the download hold all


def _flags(f, village_ids) -> list:
    """The period's flags and the ledger-logic ones (the same for every period: cached once)."""
    return quality.ordered(ui.cached(quality.flags)(f.period, village_ids, quality.PERIOD_RULES)
                           + ui.cached(quality.ledger_logic)(None, village_ids))


def _content(f, village_ids, lang: str) -> dict:
    """What the panel shows, built once for every session per (data version, period, villages,
    language): the count, the summary and each detailed flag's lines and rows as Arrow (the
    county's flags made into frames and converted at every rerun of every session were a third
    of a warm overview)."""
    def make():
        fl = _flags(f, village_ids)
        shown = []
        for i, fg in enumerate(fl[:DETAILED], start=1):
            shown.append(dict(
                head=f"**{i}. {fmt.md(ui.t('quality.name.' + fg.rule))}** · "
                     f"{fmt.md(quality.place_text(fg, lang))} · {fmt.md(quality.period_text(fg, lang))}",
                rule=fmt.md(quality.rule_text(fg.rule, lang)), detail=fmt.md(quality.detail(fg, lang)),
                rows=ui.arrow(quality.behind_frame(fg, lang)) if fg.rows else None,
                height=min(36 * (len(fg.rows) + 1) + 2, 250),
                more=ui.t("quality.rows_more", n=fg.n_rows, shown=len(fg.rows))
                if fg.n_rows > len(fg.rows) else None))
        return dict(n=len(fl), summary=ui.arrow(quality.summary_frame(fl, lang)) if fl else None,
                    shown=shown)
    return ui.shared("quality_panel", f.period, village_ids, lang)(make)


def panel(c: dict, f, village_ids, name: str, title: str) -> None:
    lang = ui.lang()
    with st.expander(title, expanded=False):   # no icon: an expander draws its name as text
        st.caption(ui.t("quality.intro"))
        if not c["n"]:
            st.success(ui.t("quality.none"))
            return
        st.dataframe(c["summary"], width="stretch")
        dl.button(st, ui.t("quality.download"),
                  lambda: export.table_to_csv(quality.rows_frame(_flags(f, village_ids), lang)),
                  file_name=f"{name}_{f.period.start}_{f.period.end}.csv", mime=export.CSV_MIME,
                  key=f"dl_{name}", icon=":material/download:")
        for one in c["shown"]:
            st.markdown(one["head"])
            st.caption(one["rule"])
            st.markdown(one["detail"])
            if one["rows"] is not None:
                st.dataframe(one["rows"], hide_index=True, width="stretch", height=one["height"])
            if one["more"]:
                st.caption(one["more"])


def overview_panel(f) -> None:
    """The township's flags for the chosen villages, for leaders and admins only."""
    user = ui.current_user()
    if not quality.sees_township_panel(user):
        return
    ids = quality.visible_villages(user, f.village_ids)
    c = _content(f, ids, ui.lang())
    panel(c, f, ids, "quality_flags", ui.t("quality.panel", n=c["n"]))


def village_panel(f, village_id: int) -> None:
    """One village's flags, for whoever's places include it."""
    ids = quality.visible_villages(ui.current_user(), (village_id,))
    if not ids:
        return
    c = _content(f, ids, ui.lang())
    panel(c, f, ids, "village_quality_flags", ui.t("quality.village_heading", n=c["n"]))
