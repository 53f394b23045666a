"""Chinese (zh-CN) and English messages. Each package keeps ``locales/<lang>.toml``; keys are
dotted (``[labs] title = ...`` is ``labs.title``). A key missing in one language falls back to
English, then to the key itself, so a gap shows up on screen rather than as an error."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
PACKAGES = ("telemed", "ehr", "labs", "webrtc", "reports")


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


def translate(lang: str, key: str, **values: object) -> str:
    text = messages(lang).get(key) or messages("en").get(key) or key
    return text.format(**values) if values else text


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    if accept and accept.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE
