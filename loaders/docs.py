"""The generated parts of docs/UPLOAD_TEMPLATES.md: the enumeration spellings and the header
alias tables, both from loaders/spec.py (so the document cannot fall behind the table).

``python -m loaders docs`` rewrites them in place; tests/test_loaders_docs.py fails when the
document differs from what this module generates.
"""
from __future__ import annotations

import re
from pathlib import Path

from loaders import spec

DOC = Path(__file__).resolve().parent.parent / "docs" / "UPLOAD_TEMPLATES.md"
ENUM_HEAD = "| enumeration | stored code: values accepted |\n|---|---|\n"
CAT_HEAD = "| dispute category (stored) | spellings filed under it |\n|---|---|\n"
ALIASES_START = "## Header aliases\n"
ALIASES_END = "## Command line\n"


def enum_table() -> str:
    rows = []
    for enum, values in spec.ENUMS.items():
        cells = "<br>".join(f"`{code}`: " + "、".join(spellings) for code, spellings in values.items())
        rows.append(f"| `{enum}` | {cells} |\n")
    return ENUM_HEAD + "".join(rows)


def category_table() -> str:
    return CAT_HEAD + "".join(f"| {name} | {'、'.join(sp)} |\n"
                              for name, sp in spec.DISPUTE_CATEGORIES.items())


def alias_tables(lang: str = "zh") -> str:
    from dashboard.i18n import t
    out = [ALIASES_START]
    for kind in spec.KINDS:
        out.append(f"\n### `{kind}` — {t(f'loader.kind.{kind}', lang)}\n\n")
        out.append("| field | 中文 | required | type | headers accepted (any one) |\n|---|---|---|---|---|\n")
        for f in spec.fields(kind):
            typ = f"enum (`{f.enum}`)" if f.type == "enum" else f.type
            heads = "、".join(f"`{a}`" for a in dict.fromkeys(f.aliases))
            out.append(f"| `{f.name}` | {t(f'loader.field.{kind}.{f.name}', lang)} | "
                       f"{'yes' if f.required else ''} | {typ} | {heads} |\n")
    return "".join(out) + "\n"


def render(text: str) -> str:
    """The document with its generated parts replaced by what spec.py says now."""
    text = re.sub(re.escape(ENUM_HEAD) + r"(?:\|[^\n]*\n)*", lambda m: enum_table(), text, count=1)
    text = re.sub(re.escape(CAT_HEAD) + r"(?:\|[^\n]*\n)*", lambda m: category_table(), text, count=1)
    a, b = text.index(ALIASES_START), text.index(ALIASES_END)
    return text[:a] + alias_tables() + text[b:]


def write(path: Path = DOC) -> bool:
    """Rewrite the document; True when it changed."""
    old = path.read_text(encoding="utf-8")
    new = render(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old
