"""县级总览: the townships ranked with the registry's figures (a township's rate is the ratio
of its villages' sums), exactly as computed by hand from the intake fixtures."""
from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.periods import Period
from dashboard.queries import county
from dashboard.ui import nav
from test_county_intake import load_a, load_b
from test_county_roles import county_env, county_url, page  # noqa: F401 - the same county

pytestmark = pytest.mark.usefixtures("fresh_cache")

YEAR = Period(date(2024, 1, 1), date(2024, 12, 31), "year")


def test_townships_side_by_side(engine):
    load_a(engine)
    load_b(engine)
    with engine.connect() as c:
        df = county.townships(c, YEAR)
    # A: 5 disputes, 3 resolved (JS-2024-001, DH-2024-002, DH-2024-003) -> 3/5 = 60.0%;
    # B: the same file plus JS-2024-009, resolved -> 4/6 = 66.7% (ratio of sums), ranked first
    assert list(df["township"]) == ["白云镇", "本乡镇"]
    assert list(df["rank"]) == [1, 2]
    assert list(df["disputes_total"]) == [6, 5]
    assert df["resolution_rate"].tolist() == pytest.approx([4 / 6, 3 / 5])
    assert list(df["villages"]) == [3, 3]


def test_county_page_for_the_county_leader_only(county_env):
    at = page(county_env, "county", "county")
    assert not at.exception, [e.value for e in at.exception]
    shown = at.dataframe[0].value
    assert list(shown.iloc[:, 1]) == ["白云镇", "本乡镇"]
    at = page(county_env, "county", "lead_a")
    assert not at.exception
    assert [i.value for i in at.info] == ["县级总览只对能看到多个乡镇（街道）的账号开放。"]
    assert not at.dataframe


def test_the_county_page_is_only_listed_for_someone_who_sees_several_townships():
    from dashboard.ui import nav
    assert "county" in [p[0] for p in nav.available("leader", several_townships=True)]
    # one township in the database, or a township's own staff: nothing changes for them
    assert "county" not in [p[0] for p in nav.available("leader", several_townships=False)]
    assert [p for p in nav.available("leader", False)] == \
        [p for p in nav.available("leader") if p[0] != "county"]
