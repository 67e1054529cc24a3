"""Message catalogues (French first, English too): every resident-facing word lives in
``i18n/<lang>.json``, none in the templates (issue 6, point 2; Charter of the French language).

Language: ``?lang=`` (remembered in a cookie), else the cookie, else French.
"""

from __future__ import annotations

import json
import pathlib
from functools import lru_cache

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
LANG_COOKIE = "mtlid_lang"
_DIR = pathlib.Path(__file__).parent / "i18n"


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    messages = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    # Each part of the front may keep its own file, ``<part>.<lang>.json`` (e.g. account.fr.json).
    for extra in sorted(_DIR.glob(f"*.{lang}.json")):
        messages.update(json.loads(extra.read_text(encoding="utf-8")))
    return messages


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self.messages = catalogue(self.lang)
        self.fallback = catalogue(DEFAULT_LANGUAGE)

    def __call__(self, key: str, **values: object) -> str:
        text = self.messages.get(key) or self.fallback.get(key) or key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self.messages


def choose_language(query_lang: str | None, cookie_lang: str | None) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
