"""The visits page's suggestion section (意见建议转办答复) on the demo township: cards agree with
the registry, the funnel, the 督办 list by department (downloadable, no names beyond the
representative's) and the per-representative table agree with the queries, on SQLite and
PostgreSQL."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import fmt, metrics, periods
from dashboard.queries import visits as q
from dashboard.ui import nav

Q4 = periods.quarter(2025, 4)


pytestmark = pytest.mark.usefixtures("fresh_cache")


def _app(lang="zh") -> AppTest:
    at = AppTest.from_file(str(nav.ROOT / "pages/visits.py"), default_timeout=90)
    at.session_state["lang"] = lang
    return at.run()


def test_section_agrees_with_registry_and_queries(demo_env, demo_engine):
    at = _app()
    assert not at.exception, [e.value for e in at.exception]
    with demo_engine.connect() as c:
        tw = metrics.compute(c, Q4)["township"]
        funnel = q.referral_funnel(tw)
        late = q.overdue_replies(c, Q4)
        reps = q.referrals_by_rep(c, Q4)
        phone_like = {r[0] for r in c.execute(sa.text("SELECT DISTINCT department FROM suggestion "
                                                      "WHERE department IS NOT NULL"))}
    assert tw["suggestions_referred"] > 0 and len(late) > 0   # the demo has both
    cards = {m.label: m.value for m in at.metric}
    assert cards["转办建议"] == fmt.num(tw["suggestions_referred"])
    assert cards["转办答复率"] == fmt.pct(tw["referral_reply_rate"])
    assert cards["超期未答复"] == fmt.num(tw["replies_overdue"])
    assert cards["答复满意率"] == fmt.pct(tw["satisfied_rate"])
    assert len(late) == tw["replies_overdue"]

    headers = [h.value for h in at.subheader]
    assert f"督办：超期未答复的转办建议（截至 2025-12-31，{len(late)} 条）" in headers
    # the funnel: collected → on the spot / referred → answered → satisfied, as the query says
    fun = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
           if json.loads(c.proto.spec)["data"][0]["type"] == "funnel"]
    levels = [f for f in fun if f["data"][0]["y"][0] == "登记意见建议"]
    assert len(levels) == 1
    # each stage a registry figure under its registry name, with the registry's value
    assert levels[0]["data"][0]["y"] == ["登记意见建议", "当场解决建议", "转办建议", "转办已答复", "答复满意"]
    assert levels[0]["data"][0]["x"] == [tw[k] for k in ("suggestions_logged", "suggestions_on_the_spot",
                                                          "suggestions_referred", "referrals_replied",
                                                          "referrals_satisfied")]
    n = list(funnel["n"])
    assert n[0] >= n[1] and n[2] >= n[3] >= n[4]

    frames = {tuple(d.value.columns): d.value for d in at.dataframe}
    overdue = next(v for k, v in frames.items() if "建议编号" in k)
    assert list(overdue.columns) == ["承办单位", "建议编号", "村（社区）", "代表", "建议类别",
                                     "收集日期", "转办日期", "已等待天数"]
    assert list(overdue["建议编号"]) == list(late["sugg_no"])
    waits = [int(str(x).replace(",", "")) for x in overdue["已等待天数"]]
    assert min(waits) > metrics.REPLY_DAYS
    # by department, and oldest first within each department
    for dept in set(late["department"]):
        part = late[late["department"] == dept]
        assert list(part["referred_on"]) == sorted(part["referred_on"])
    depts = next(v for k, v in frames.items() if "最早转办日期" in k)
    assert sum(int(x) for x in depts["超期未答复（条）"]) == len(late)
    assert set(depts["承办单位"]) <= phone_like
    per_rep = next(v for k, v in frames.items() if "当场解决建议（条）" in k)
    assert list(per_rep["代表"]) == list(reps["rep_name"])
    buttons = " ".join(str(b.proto) for b in at.get("download_button"))
    for key in ("dl_overdue_replies", "dl_overdue_replies_by_department", "dl_referrals_per_rep",
                "dl_referral_funnel"):
        assert key in buttons, key


def test_overdue_download_is_the_list(demo_env, demo_engine):
    from dashboard import export
    with demo_engine.connect() as c:
        late = q.overdue_replies(c, Q4)
    data = export.table_to_csv(fmt.frame(late, q.OVERDUE_REPLY_SPEC, "zh", export=True))
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == "承办单位,建议编号,村（社区）,代表,建议类别,收集日期,转办日期,已等待天数"
    assert len(text.strip().splitlines()) == len(late) + 1


def test_section_in_english(demo_env):
    at = _app("en")
    assert not at.exception
    assert "Suggestions referred and answered" in [h.value for h in at.header]
    assert "Referral reply rate" in [m.label for m in at.metric]


def test_funnel_counts_on_a_small_ledger(engine):
    from datetime import date
    from dashboard.db import schema as S
    from dashboard.db.engine import write_txn
    with write_txn(engine) as c:
        tid = c.execute(sa.insert(S.township).values(code="360121105000", name="镇")
                        .returning(S.township.c.id)).scalar_one()
        vid = c.execute(sa.insert(S.village).values(township_id=tid, name="红旗村")
                        .returning(S.village.c.id)).scalar_one()
        base = dict(village_id=vid, rep_name="张秀英", category="其他", department=None,
                    referred_on=None, replied_on=None, satisfaction=None)
        rows = [dict(base, sugg_no="1", collected_on=date(2025, 3, 1), handling="on_the_spot"),
                dict(base, sugg_no="2", collected_on=date(2025, 3, 2), handling="in_progress"),
                dict(base, sugg_no="3", collected_on=date(2025, 3, 3), handling="referred",
                     department="镇政府", referred_on=date(2025, 3, 4), replied_on=date(2025, 3, 31),
                     satisfaction="basic"),
                dict(base, sugg_no="4", collected_on=date(2025, 3, 3), handling="referred",
                     department="镇政府", referred_on=date(2025, 3, 4), replied_on=date(2025, 4, 1),
                     satisfaction="satisfied"),
                dict(base, sugg_no="5", collected_on=date(2025, 2, 3), handling="referred",
                     department="县交通局", referred_on=date(2025, 2, 4)),
                dict(base, sugg_no="6", collected_on=date(2025, 1, 3), handling="referred",
                     department="镇政府", referred_on=date(2025, 1, 4))]
        c.execute(sa.insert(S.suggestion), rows)
    p = periods.month(2025, 3)
    with engine.connect() as c:
        # logged 1–4 (by 收集日期), 1 on the spot; referred in March 3 and 4, 3 answered, basic
        assert list(q.referral_funnel(metrics.compute(c, p)["township"])["n"]) == [4, 1, 2, 1, 1]
        late = q.overdue_replies(c, p)
        reps = q.referrals_by_rep(c, p)
    # 6 (1-4, 86 days) and 5 (2-4, 55 days): 镇政府's oldest first
    assert list(late["sugg_no"]) == ["6", "5"]
    assert list(late["days_waiting"]) == [86, 55]
    assert q.overdue_by_department(late).to_dict("list") == {
        "department": ["镇政府", "县交通局"], "n": [1, 1],
        "oldest": [date(2025, 1, 4), date(2025, 2, 4)], "days_max": [86, 55]}
    assert reps.to_dict("records") == [dict(
        rep_name="张秀英", suggestions_logged=4, suggestions_on_the_spot=1, suggestions_referred=2,
        referrals_replied=1, referral_reply_rate=0.5, replies_overdue=2, referrals_satisfied=1,
        satisfied_rate=1.0)]
