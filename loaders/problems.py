"""Structured problems: what went wrong, where (the row the clerk sees), and how to fix it."""
from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.errors import UserError
from dashboard.i18n import t


@dataclass
class Problem:
    row: int | None          # spreadsheet row number as Excel/WPS shows it (None: the whole file)
    column: str              # the column as written in the file (or the expected header)
    value: str               # the offending value as written
    code: str                # reason code: loader.err.<code>
    params: dict = field(default_factory=dict)

    def message(self, lang: str = "zh") -> str:
        params = {"column": self.column, "value": self.value, **self.params}
        for k in ("detected", "wanted"):
            if params.get(k):
                params[k] = t(f"loader.kind.{params[k]}", lang)
        if params.get("foreign"):
            params["foreign"] = t(f"loader.foreign.{params['foreign']}", lang)
        if params.get("table"):
            params["table"] = t(f"loader.table.{params['table']}", lang)
        if "suggestion" in params and not params["suggestion"]:
            params["suggestion"] = t("loader.no_suggestion", lang)
        key = f"loader.err.{self.code}"
        if self.code == "wrong_kind" and not self.params.get("wanted"):
            key = "loader.err.wrong_kind_auto"
        if self.code == "foreign" and not self.params.get("wanted"):
            key = "loader.err.foreign_auto"
        return t(key, lang, **params)

    def as_dict(self, lang: str = "zh") -> dict:
        return {"row": self.row, "column": self.column, "value": self.value,
                "message": self.message(lang), "code": self.code}


class Refusal(UserError):
    """The file is refused as a whole (unreadable, wrong kind...). Carries problems to list."""

    def __init__(self, code: str, problems: list[Problem] | None = None, **params):
        super().__init__(f"loader.err.{code}", **params)
        self.code = code
        self.problems = problems or [Problem(None, params.get("column", ""),
                                             str(params.get("value", "")), code, params)]

    def message(self, lang: str = "zh") -> str:
        return self.problems[0].message(lang)


class ValidationFailed(Exception):
    """Raised inside the write transaction so that it rolls back; carries the problems."""

    def __init__(self, problems: list[Problem], rejected: int, total: int):
        super().__init__("validation failed")
        self.problems = problems
        self.rejected = rejected
        self.total = total
