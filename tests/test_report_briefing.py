"""文字简报 on test_metrics' hand-built township (Q1 2025), sentence by sentence (issue 14):
headline figures, the biggest changes, villages without visits or activities, the overdue
backlog, 下一步工作 from what needs attention; no comparison said twice; no 2-case village
as a headline.

Hand-computed (see tests/test_metrics.py): Q1 2025 12 disputes, 7 resolved (58.3 %); the
previous quarter 1 dispute (a5), none resolved (0 %), so +58.3 points; nothing a year before.
A村 8 cases, 4 resolved (50.0 %, 4 open); B社区 4 cases, 3 resolved (75.0 %: above the
average, below the 90 % target); C村 none. Overdue at 03-31: a8 (31
days) and a10 (70 days). Volunteering 10×2 + 5×1.5 + 4×2.5 = 37.5 person-hours, 19 people,
against 10×3 = 30 in Q4 (+25.0 %). Visits 3 (r1-r3): 60 voters, 10 suggestions, 5 solved;
Q4 had r5 (1 visit, 2 suggestions): visits +200 %, suggestions +400 %, disputes 12 vs 1
+1100 %. C村 has neither visits nor activities in Q1. 3 grids, 3 workers, 300 households.
"""
from datetime import date

import pytest
import sqlalchemy as sa

from dashboard import periods
from dashboard.db import schema as S
from dashboard.report import briefing
from tests.test_metrics import seed

Q1 = periods.quarter(2025, 1)


@pytest.fixture
def town(engine):
    return engine, seed(engine)


def _lines(engine, period, lang="zh", village_ids=None):
    with engine.connect() as conn:
        return briefing(conn, period, village_ids, lang, 0.9).split("\n")


def test_quarter_briefing_reads_as_a_leader_would_say_it(town):
    engine, _ = town
    assert _lines(engine, Q1) == [
        "本季度共受理矛盾纠纷12件，化解7件，化解率58.3%，较上季度上升58.3个百分点；"
        "A村（50.0%，8件）化解率低于全镇平均（58.3%）；超过30天未化解的纠纷2件，需跟踪督办。",
        "本季度开展志愿服务活动3场，参与19人次，服务时长37.5小时，较上季度增长25.0%。",
        "两代表一委员本季度走访接待3次，联系选民60人次，收集意见建议10条，已推动解决5个，解决率50.0%。",
        "变化较大的指标：受理纠纷较上季度增长1100.0%；收集意见建议较上季度增长400.0%；走访记录较上季度增长200.0%。",
        "本季度无代表走访记录的有C村；未开展志愿服务活动的有C村。",
        "现有网格3个、网格员3人，网格员人均服务100.0户。",
        "下一步工作：一是对化解率低于目标90.0%的A村逐案分析、限期化解；"
        "二是对超过30天仍未化解的2件纠纷挂牌督办、跟踪到底；三是督促C村开展代表走访和志愿服务。",
    ]


def test_a_year_says_each_comparison_once(town):
    """For a year the previous period is the year before: 较上年度 and 同比 are one comparison."""
    engine, _ = town
    text = "\n".join(_lines(engine, periods.year(2025)))
    assert "同比" not in text
    assert text.count("较上年度上升69.2个百分点") == 1
    for line in text.split("\n"):
        assert len(set(line.split("；"))) == len(line.split("；"))


def test_a_village_with_two_cases_is_not_the_headline(town):
    """D村: 2 disputes, none resolved (0.0 %), the lowest rate of all; with 14 disputes and 7
    resolved the township is at 50.0 %, A村 at 50.0 % is not below it: nobody is named."""
    engine, ids = town
    with engine.begin() as c:
        tid = c.execute(sa.select(S.township.c.id)).scalar_one()
        d = c.execute(sa.insert(S.village).values(township_id=tid, name="D村", kind="village", households=10,
                                                  population=30).returning(S.village.c.id)).scalar_one()
        for no, day in (("d1", date(2025, 3, 20)), ("d2", date(2025, 3, 25))):
            c.execute(sa.insert(S.dispute).values(case_no=no, village_id=d, category="邻里纠纷",
                                                  reported_on=day, status="received"))
    first = _lines(engine, Q1)[0]
    assert first == "本季度共受理矛盾纠纷14件，化解7件，化解率50.0%，较上季度上升50.0个百分点；超过30天未化解的纠纷2件，需跟踪督办。"
    assert "D村" not in _lines(engine, Q1)[-1].split("三是")[0]


def test_english_briefing_says_the_same(town):
    engine, _ = town
    lines = _lines(engine, Q1, "en")
    assert lines[3] == ("Biggest changes: Disputes received against last quarter: up 1100.0%; "
                        "Suggestions collected against last quarter: up 400.0%; "
                        "Representative visits against last quarter: up 200.0%.")
    assert lines[-1] == ("Next steps: first, analyse case by case and resolve on a deadline in A村 (below the "
                         "90.0% target); second, supervise the 2 cases open for more than 30 days until closed; "
                         "third, have C村 arrange representative visits and volunteer activities.")
