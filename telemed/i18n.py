"""Chinese (zh-CN) and English messages. Each package keeps ``locales/<lang>.toml``; keys are
dotted (``[labs] title = ...`` is ``labs.title``).

A key missing in the asked language is logged once (``telemed.i18n``) and falls back to English,
then to the key itself, so that a person still reads something. With ``TELEMED_I18N_STRICT=1``
(the page tests set it) a missing key shows as ``⟦key⟧`` instead, so no fallback hides a gap."""

from __future__ import annotations

import logging
import os
import tomllib
from functools import cache
from importlib import resources

log = logging.getLogger("telemed.i18n")
STRICT_ENV = "TELEMED_I18N_STRICT"
MISSING_MARK = "⟦{}⟧"

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
PACKAGES = ("telemed", "ehr", "labs", "webrtc", "reports", "custody", "care", "rounds")


def _flatten(data: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


@cache
def messages(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for package in PACKAGES:
        path = resources.files(package) / "locales" / f"{lang}.toml"
        if path.is_file():
            merged.update(_flatten(tomllib.loads(path.read_text(encoding="utf-8"))))
    return merged


@cache
def _missing(lang: str, key: str) -> None:
    log.warning("untranslated key", extra={"lang": lang, "key": key})


def translate(lang: str, key: str, **values: object) -> str:
    text = messages(lang).get(key)
    if text is None:
        _missing(lang, key)
        if os.environ.get(STRICT_ENV) == "1":
            return MISSING_MARK.format(key)
        text = messages("en").get(key) or key
    return text.format(**values) if values else text


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    if accept and accept.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE
