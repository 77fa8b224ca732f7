"""Every registered page runs through Streamlit's AppTest on the demo township without an exception."""
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.ui import nav

ADMIN = {"username": "test-admin", "role": "admin", "village_ids": None, "display_name": "test"}


@pytest.mark.parametrize("page", [p for p in nav.available()], ids=lambda p: p[0])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_runs(demo_env, page, lang):
    at = AppTest.from_file(str(nav.ROOT / page[1]), default_timeout=60)
    at.session_state["user"] = ADMIN
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_app_entry_runs_overview_in_chinese(demo_env):
    at = AppTest.from_file(str(nav.ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "总览"
    labels = [m.label for m in at.metric]
    assert "化解率" in labels and "受理纠纷" in labels


def test_app_entry_in_english(demo_env):
    at = AppTest.from_file(str(nav.ROOT / "app.py"), default_timeout=60)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception
    assert at.title[0].value == "Overview"


def test_overview_defaults_to_latest_complete_quarter_with_data(demo_env):
    at = AppTest.from_file(str(nav.ROOT / "pages/overview.py"), default_timeout=60).run()
    assert at.selectbox(key="period_quarter").value == "2025Q4"
    values = {m.label: m.value for m in at.metric}
    assert values["受理纠纷"] != "0"


def test_overview_filters_change_figures(demo_env):
    at = AppTest.from_file(str(nav.ROOT / "pages/overview.py"), default_timeout=60).run()
    before = {m.label: m.value for m in at.metric}
    at.radio(key="period_kind").set_value("year").run()
    assert not at.exception
    after = {m.label: m.value for m in at.metric}
    assert int(after["受理纠纷"].replace(",", "")) > int(before["受理纠纷"].replace(",", ""))
    first = at.multiselect(key="villages").options[0]
    at.multiselect(key="villages").select(first).run()
    assert not at.exception
    one = {m.label: m.value for m in at.metric}
    assert int(one["受理纠纷"].replace(",", "")) < int(after["受理纠纷"].replace(",", ""))


def test_kpi_deltas_carry_their_sign_first(demo_env):
    """Streamlit draws the arrow from a leading "-": a fall must not show an up arrow."""
    for path in ("pages/overview.py", "pages/disputes.py"):
        at = AppTest.from_file(str(nav.ROOT / path), default_timeout=60).run()
        deltas = [m.proto.delta for m in at.metric if m.proto.delta]
        assert deltas, path
        for d in deltas:
            assert d[0] in "+-0", (path, d)   # never "环比 −2.5…", which Streamlit reads as a rise
