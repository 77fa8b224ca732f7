from datetime import date

import pytest

from dashboard import periods as P


def test_previous_and_year_ago():
    q = P.quarter(2025, 1)
    assert (q.start, q.end) == (date(2025, 1, 1), date(2025, 3, 31))
    assert q.previous() == P.quarter(2024, 4)
    assert q.year_ago() == P.quarter(2024, 1)
    assert P.month(2025, 1).previous() == P.month(2024, 12)
    assert P.month(2024, 3).end == date(2024, 3, 31)
    assert P.month(2024, 2).end == date(2024, 2, 29)
    assert P.year(2025).previous() == P.year(2024)
    c = P.Period(date(2025, 3, 1), date(2025, 3, 10))
    assert c.previous() == P.Period(date(2025, 2, 19), date(2025, 2, 28))
    assert P.Period(date(2024, 2, 29), date(2024, 3, 1)).year_ago() == P.Period(date(2023, 2, 28), date(2023, 3, 1))


def test_latest_complete_never_opens_on_a_half_period():
    last = date(2025, 12, 31)
    assert P.latest_complete("month", last, today=date(2026, 11, 23)) == P.month(2025, 12)
    assert P.latest_complete("quarter", last, today=date(2026, 11, 23)) == P.quarter(2025, 4)
    assert P.latest_complete("quarter", date(2025, 11, 20), today=date(2026, 1, 1)) == P.quarter(2025, 3)
    assert P.latest_complete("month", date(2026, 11, 23), today=date(2026, 11, 23)) == P.month(2026, 10)


def test_parse_and_compact_round_trip():
    for kind, p in (("month", P.month(2025, 3)), ("quarter", P.quarter(2025, 3)), ("year", P.year(2025)),
                    ("custom", P.Period(date(2025, 1, 5), date(2025, 2, 1)))):
        assert P.parse(kind, P.compact(p)) == p


def test_labels():
    assert P.quarter(2025, 3).label("zh") == "2025年第3季度"
    assert P.month(2025, 3).label("en") == "2025-03"


def test_options_newest_first():
    opts = P.options("quarter", date(2024, 1, 1), date(2025, 12, 31))
    assert opts[0] == P.quarter(2025, 4) and opts[-1] == P.quarter(2024, 1) and len(opts) == 8


def test_end_before_start_refused():
    with pytest.raises(ValueError):
        P.Period(date(2025, 2, 1), date(2025, 1, 1))
