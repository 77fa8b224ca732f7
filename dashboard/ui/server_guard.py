"""Streamlit's server does what any browser asks over the WebSocket; a few requests are not for everyone.

"Clear cache" (the ``clear_cache`` message of the app menu) empties st.cache_data and
st.cache_resource for every session on the process: any client can send it, logged in or not, and
Streamlit has no option to turn it off (1.67). Here it is honoured for an admin's session only;
for anyone else it is logged and ignored. The HTTP side (``/_stcore/metrics``) is closed in the
nginx recipe (deploy/nginx/dashboard.conf), as Streamlit has no option for that either.
"""
from __future__ import annotations

import logging

_LOG = logging.getLogger("dashboard.ui")


def _allowed(session_state) -> bool:
    try:
        user = session_state["user"]
    except (KeyError, AttributeError, TypeError):
        return False
    return isinstance(user, dict) and user.get("role") == "admin"


def guard_cache_clearing() -> None:
    """Wrap AppSession's clear-cache handler once per process (idempotent)."""
    from streamlit.runtime.app_session import AppSession
    original = getattr(AppSession, "_handle_clear_cache_request", None)
    if original is None or getattr(original, "_dashboard_guard", False):
        return

    def guarded(self) -> None:
        if _allowed(getattr(self, "_session_state", None)):
            return original(self)
        _LOG.warning("clear_cache refused for a session that is not an admin's")

    guarded._dashboard_guard = True
    AppSession._handle_clear_cache_request = guarded
