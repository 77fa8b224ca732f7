"""The data-quality panels through AppTest: the overview's (leaders and admins) and the village
profile's (the viewer's own places), on the demo township with one wrong row added."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard.db import schema as S
from dashboard.db.engine import dispose_all, get_engine, write_txn
from dashboard.ui import nav

LEADER = {"username": "l", "role": "leader", "village_ids": None, "display_name": ""}
ADMIN = {"username": "a", "role": "admin", "village_ids": None, "display_name": ""}


@pytest.fixture
def flagged(demo_copy_url, monkeypatch):
    """The demo with one volunteer activity of 30 hours per person in 红旗村 (stored before intake
    refused such rows): one ledger_logic flag."""
    eng = get_engine(demo_copy_url)
    with write_txn(eng) as c:
        ids = dict(c.execute(sa.select(S.village.c.name, S.village.c.id)).all())
        c.execute(sa.insert(S.volunteer_activity).values(
            activity_no="ZY-WRONG-1", village_id=ids["红旗村"], held_on=date(2025, 11, 3), team="党员先锋队",
            category="环保清洁", participants=3, hours=30.0, points=90))
    dispose_all()
    monkeypatch.setenv("DATABASE_URL", demo_copy_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    return ids


def run(path: str, user: dict, village: int | None = None) -> AppTest:
    at = AppTest.from_file(str(nav.ROOT / path), default_timeout=90)
    at.session_state["lang"] = "zh"
    at.session_state["user"] = user
    if village is not None:
        at.query_params["village"] = str(village)
    at.run()
    assert not at.exception, at.exception
    return at


def flag_expanders(at) -> list[str]:
    return [e.label for e in at.expander if "数据质量标记" in e.label]


def test_overview_panel_for_leaders_and_admins(flagged):
    for user in (LEADER, ADMIN):
        at = run("pages/overview.py", user)
        assert flag_expanders(at) == ["数据质量标记（1 条）"]
        exp = next(e for e in at.expander if e.label == "数据质量标记（1 条）")
        text = " ".join(m.value for m in exp.markdown)
        assert "违反台账逻辑" in text and "红旗村" in text
        assert "志愿服务台账中有 1 条记录：每人服务时长超过 24 小时。" in text
        assert any("每人服务时长超过 24 小时" in c.value for c in exp.caption)   # the written rule
        behind = exp.dataframe[1].value
        assert behind["活动编号"].tolist() == ["ZY-WRONG-1"]
        assert [b.label for b in exp.get("download_button")] == ["下载标记及相关记录（CSV）"]


def test_overview_panel_not_for_clerks(flagged):
    clerk = {"username": "c", "role": "clerk", "village_ids": (flagged["红旗村"],), "display_name": ""}
    at = run("pages/overview.py", clerk)
    assert flag_expanders(at) == []


def test_village_profile_shows_its_own_flags(flagged):
    at = run("pages/village.py", LEADER, flagged["红旗村"])
    assert flag_expanders(at) == ["本村（社区）的数据质量标记（1 条）"]
    at = run("pages/village.py", LEADER, flagged["东湖社区"])
    assert flag_expanders(at) == ["本村（社区）的数据质量标记（0 条）"]
    clerk = {"username": "c", "role": "clerk", "village_ids": (flagged["红旗村"],), "display_name": ""}
    assert flag_expanders(run("pages/village.py", clerk, flagged["红旗村"])) == \
        ["本村（社区）的数据质量标记（1 条）"]
    assert flag_expanders(run("pages/village.py", clerk, flagged["东湖社区"])) == []   # not their place


def test_demo_overview_panel_is_empty(demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    at = run("pages/overview.py", LEADER)
    assert flag_expanders(at) == ["数据质量标记（0 条）"]
    exp = next(e for e in at.expander if e.label == "数据质量标记（0 条）")
    assert [s.value for s in exp.success] == ["本期未发现数据质量问题。"]
