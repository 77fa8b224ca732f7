"""Numbers the Chinese way, tables for people and CSV downloads (UTF-8 with BOM)."""
from __future__ import annotations

import pandas as pd

from dashboard import fmt
from dashboard.queries import disputes


def test_number_formats():
    assert fmt.pct(0.8333) == "83.3%" and fmt.pct(None) == "—" and fmt.pct(float("nan")) == "—"
    assert fmt.num(1234567) == "1,234,567" and fmt.num(1234.56, 1) == "1,234.6"
    assert fmt.wan(123456) == "12.3万" and fmt.wan(9999) == "9,999"
    assert fmt.is_none(pd.NA) and fmt.is_none(None) and not fmt.is_none(0)
    assert fmt.value(0.5, "rate") == "50.0%" and fmt.value(3.0, "days") == "3.0"


def test_frame_for_display_and_export():
    df = pd.DataFrame({"village": ["A村", "B社区"], "disputes_total": [1200, 0],
                       "resolution_rate": [0.91666, None], "status": ["received", "in_progress"]})
    spec = [("village", "col.village", "text"), ("disputes_total", "disputes_total", None),
            ("resolution_rate", "resolution_rate", None), ("status", "col.status", "status")]
    shown = fmt.frame(df, spec, "zh")
    assert list(shown.columns) == ["村（社区）", "受理纠纷（件）", "化解率（%）", "状态"]
    assert shown.values.tolist() == [["A村", "1,200", "91.7%", "已受理"], ["B社区", "0", "—", "化解中"]]
    assert list(shown.index) == [1, 2]
    out = fmt.frame(df, spec, "en", export=True)
    assert list(out.columns) == ["Village", "Disputes received (cases)", "Resolution rate (%)", "Status"]
    assert out.values.tolist()[0] == ["A村", 1200, 91.7, "Received"]
    assert pd.isna(out.values.tolist()[1][2])


def test_csv_has_bom_and_opens_in_excel():
    df = fmt.frame(pd.DataFrame({"case_no": ["DS-1"], "category": ["邻里纠纷"]}),
                   [("case_no", "col.case_no", "text"), ("category", "col.category", "text")], "zh")
    from dashboard import export
    data = export.table_to_csv(df)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines() == ["案件编号,类型", "DS-1,邻里纠纷"]


def test_every_spec_names_known_columns_and_labels():
    from dashboard import i18n, metrics
    from dashboard.queries import ranking, village, visits, volunteers
    specs = [disputes.MONTHLY_SPEC, disputes.VILLAGE_SPEC, disputes.LEVEL_SPEC, disputes.DAYS_SPEC,
             disputes.CATEGORY_SPEC, disputes.OVERDUE_SPEC, volunteers.MONTHLY_SPEC,
             volunteers.VILLAGE_SPEC, volunteers.TEAM_SPEC, volunteers.CATEGORY_SPEC,
             visits.TYPE_SPEC, visits.FORM_SPEC, visits.VILLAGE_SPEC, visits.REP_SPEC,
             visits.MONTHLY_SPEC, village.GRID_SPEC, village.TREND_SPEC, ranking.WEIGHT_SPEC,
             ranking.spec(ranking.load_weights())]
    for spec in specs:
        for col, label, kind in spec:
            if kind is None:
                assert label in metrics.METRICS, label
            else:
                assert i18n.has(label, "zh") and i18n.has(label, "en"), label


def test_rounding_is_half_up_as_leaders_round():
    from dashboard import fmt
    assert fmt.pct(0.0625) == "6.3%"          # 6.25 → 6.3, not banker's 6.2
    assert fmt.pct(0.0285) == "2.9%"          # not 2.8 from 2.8499999… in binary
    assert fmt.pp(-0.0625) == "−6.3"
    assert fmt.num(2.5) == "3" and fmt.num(1234567.25, 1) == "1,234,567.3"
    assert fmt.pct(2 / 3) == "66.7%"
