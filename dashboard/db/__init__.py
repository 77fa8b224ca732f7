"""Database access: engine with the right pragmas, schema, migrations."""
from dashboard.db.engine import get_engine, bump_version, current_version, migrate, write_txn  # noqa: F401
from dashboard.db import schema  # noqa: F401
