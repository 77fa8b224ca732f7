"""One user-facing error type: a message key into the catalogue and its parameters."""
from __future__ import annotations


class UserError(Exception):
    def __init__(self, key: str, **params):
        super().__init__(key)
        self.key = key
        self.params = params

    def message(self, lang: str = "zh") -> str:
        from dashboard.i18n import t
        return t(self.key, lang, **self.params)
