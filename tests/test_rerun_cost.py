"""What one rerun of a page costs the server (issue 17, load): with 25 sessions on one process every
database round trip waits for the GIL, so a warm rerun asks the database only for the data
version (once) and the login (when auth is on), and a write in the run is still seen at once."""
import collections

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from dashboard.ui import nav

LEADER = {"username": "test-leader", "role": "leader", "village_ids": None, "display_name": "t"}


@pytest.fixture
def statements():
    seen = collections.Counter()

    def count(conn, cursor, statement, params, context, executemany):
        seen[" ".join(statement.split())[:60]] += 1
    sa.event.listen(Engine, "before_cursor_execute", count)
    yield seen
    sa.event.remove(Engine, "before_cursor_execute", count)


def test_warm_overview_reads_the_version_once_and_nothing_else(demo_env, statements):
    at = AppTest.from_file(str(nav.ROOT / "app.py"), default_timeout=120)
    at.session_state["user"] = LEADER
    at.run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    statements.clear()
    at.run()
    assert not at.exception
    reads = {k: v for k, v in statements.items() if k not in ("BEGIN", "COMMIT", "ROLLBACK")}
    assert list(reads) == [next(k for k in reads if "data_version" in k)], reads
    assert sum(reads.values()) == 1, reads


def _script():
    import streamlit as st

    from dashboard.db import engine as E
    from dashboard.ui import common as ui
    before = ui.version()
    again = ui.version()
    with E.write_txn(ui.engine()) as conn:
        E.bump_version(conn)
    st.text(f"{before == again} {ui.version() != before}")


def test_a_write_in_the_run_is_seen_in_the_same_run(demo_copy_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_copy_url)
    at = AppTest.from_function(_script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    # the same version twice in a run, a new one after the run's own write
    assert at.text[0].value == "True True"


def test_one_cached_wrapper_per_function():
    from dashboard.queries import overview
    from dashboard.ui import common as ui
    assert ui.cached(overview.kpis) is ui.cached(overview.kpis)
