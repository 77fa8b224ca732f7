"""UI strings: one catalogue per language, kept as topic files under i18n/<lang>/.

``t(key, lang, **params)`` formats with str.format. A missing key in a language
falls back to Chinese, then to the key itself, so a page never crashes on a
string; a test checks that both catalogues have the same keys.
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
LANGS = ("zh", "en")


def _flatten(d: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sorted((HERE / lang).glob("*.toml")):
        with f.open("rb") as fh:
            out.update(_flatten(tomllib.load(fh)))
    return out


def t(key: str, lang: str = "zh", **params) -> str:
    lang = lang if lang in LANGS else "zh"
    text = catalogue(lang).get(key) or catalogue("zh").get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def has(key: str, lang: str = "zh") -> bool:
    return key in catalogue(lang)


def scope(village_ids=None, names: dict | None = None, lang: str = "zh") -> str:
    """What a figure covers, in words: 全镇 for every village, a village's own name when one is
    chosen, 所选村（社区） for several. The one place a sentence gets its scope word from."""
    ids = tuple(village_ids or ())
    if not ids:
        return t("scope.township", lang)
    if len(ids) == 1 and names and ids[0] in names:
        return str(names[ids[0]])
    return t("scope.selected", lang)
