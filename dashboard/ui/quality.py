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


def panel(fl: list, f, name: str, title: str) -> None:
    lang = ui.lang()
    with st.expander(title, expanded=False):   # no icon: an expander draws its name as text
        st.caption(ui.t("quality.intro"))
        if not fl:
            st.success(ui.t("quality.none"))
            return
        st.dataframe(quality.summary_frame(fl, lang), width="stretch")
        dl.button(st, ui.t("quality.download"), lambda: export.table_to_csv(quality.rows_frame(fl, lang)),
                  file_name=f"{name}_{f.period.start}_{f.period.end}.csv", mime=export.CSV_MIME,
                  key=f"dl_{name}", icon=":material/download:")
        for i, fg in enumerate(fl[:DETAILED], start=1):
            st.markdown(f"**{i}. {fmt.md(ui.t('quality.name.' + fg.rule))}** · "
                        f"{fmt.md(quality.place_text(fg, lang))} · {fmt.md(quality.period_text(fg, lang))}")
            st.caption(fmt.md(quality.rule_text(fg.rule, lang)))
            st.markdown(fmt.md(quality.detail(fg, lang)))
            if fg.rows:
                st.dataframe(quality.behind_frame(fg, lang), hide_index=True, width="stretch",
                             height=min(36 * (len(fg.rows) + 1) + 2, 250))
            if fg.n_rows > len(fg.rows):
                st.caption(ui.t("quality.rows_more", n=fg.n_rows, shown=len(fg.rows)))


def overview_panel(f) -> None:
    """The township's flags for the chosen villages, for leaders and admins only."""
    user = ui.current_user()
    if not quality.sees_township_panel(user):
        return
    fl = _flags(f, quality.visible_villages(user, f.village_ids))
    panel(fl, f, "quality_flags", ui.t("quality.panel", n=len(fl)))


def village_panel(f, village_id: int) -> None:
    """One village's flags, for whoever's places include it."""
    ids = quality.visible_villages(ui.current_user(), (village_id,))
    if not ids:
        return
    fl = _flags(f, ids)
    panel(fl, f, "village_quality_flags", ui.t("quality.village_heading", n=len(fl)))
