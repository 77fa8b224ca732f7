"""Alerts summarise instead of listing: at most settings.ALERT_NAMES villages in a sentence,
the full list beside it (for the page's one-click expander)."""
from __future__ import annotations

from dashboard import settings
from dashboard.queries import overview
from test_overview import Q1, fx  # noqa: F401 - the hand-built two-village fixture


def test_a_long_list_is_summarised_with_the_full_list_beside_it(fx, monkeypatch):
    engine, *_ = fx
    monkeypatch.setattr(settings, "ALERT_NAMES", 1)
    with engine.connect() as c:
        items = overview.alert_items(c, Q1, target=0.9)
        lines = overview.alerts(c, Q1, target=0.9)
    # each rate beside its count (the ranking's small-number rule: both villages under SMALL_N)
    assert items[0]["text"] == "有2个村（社区）纠纷化解率低于目标90.0%：最低的1个是村A（33.3%，3件）等。"
    assert items[0]["villages"] == ["村A", "村B"]
    # the whole list: registry figures by their registry names
    assert items[0]["table"].to_dict("records") == [
        {"村（社区）": "村A", "化解率（%）": "33.3%", "受理纠纷（件）": "3"},
        {"村（社区）": "村B", "化解率（%）": "50.0%", "受理纠纷（件）": "2"}]
    assert items[1] == {"text": "共有1件纠纷受理超过30天仍未化解：村A 1（件）。", "villages": None,
                        "table": None}
    assert lines == [a["text"] for a in items]


def test_listing_rule():
    names = [f"村{i}" for i in range(7)]
    assert overview.listing(names[:5]) == "村0、村1、村2、村3、村4"
    assert overview.listing(names) == "最低的5个是村0、村1、村2、村3、村4等"
    assert overview.listing(names, "zh", "some") == "如村0、村1、村2、村3、村4等"
    assert overview.listing(names, "en", "most") == "the most 5: 村0, 村1, 村2, 村3, 村4 and others"


def test_the_place_word_in_a_county(engine):
    import sqlalchemy as sa

    from dashboard.db import schema as S
    from test_county_intake import load_a, load_b
    load_a(engine)
    with engine.connect() as c:
        assert overview.place_word(c, None, {}) == "全镇"          # one township: as before
    load_b(engine)
    with engine.connect() as c:
        b = list(c.execute(sa.select(S.village.c.id).join(S.township)
                           .where(S.township.c.name == "白云镇")).scalars())
        names = dict(c.execute(sa.select(S.village.c.id, S.village.c.name)).all())
        assert overview.place_word(c, None, names) == "全县"
        assert overview.place_word(c, b, names) == "白云镇"
        assert overview.place_word(c, b[:1], names) == names[b[0]]
        assert overview.place_word(c, b[:2], names) == "所选村（社区）"
