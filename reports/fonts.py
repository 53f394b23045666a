"""The embedded fonts of the reports: a CJK face for Chinese and a Latin face for the rest.

reportlab reads TrueType (.ttf/.ttc) but not OTF/CFF, so Noto CJK will not do; Debian's
fonts-wqy-zenhei is TrueType and holds the ↑/↓ arrows. English reports are set in DejaVu Sans
(fonts-dejavu-core), with any Chinese run in them (a name, a free-text finding) switched to the
CJK face; Chinese reports are set in the CJK face, whose Latin glyphs match its Chinese ones.
Both are embedded (subset), so no report depends on a reader's fonts: an archived record.
"""

from __future__ import annotations

import os
import re
from functools import cache, partial
from itertools import groupby
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

CJK = "WenQuanYiZenHei"
LATIN = "DejaVuSans"
CANDIDATES = (
    Path(os.environ.get("TELEMED_REPORT_FONT", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)
LATIN_CANDIDATES = (
    Path(os.environ.get("TELEMED_REPORT_LATIN_FONT", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)

# The flag arrows and a few common characters: a font without them cannot print a report.
NEEDED = "↑↓体检报告"
LATIN_NEEDED = "↑↓°·×⁹₂µ"
# CJK ideographs, their punctuation and full-width forms: set in the CJK face.
_CJK_RUN = re.compile(r"[\u2e80-\u2fff\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")


class FontMissing(RuntimeError):
    pass


def _load(name: str, candidates: tuple[Path, ...], needed: str, package: str, env: str) -> None:
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise FontMissing(f"no {name} TrueType font: install {package} (scripts/system-deps.sh) "
                          f"or set {env} to a .ttf/.ttc file")
    font = TTFont(name, str(path), subfontIndex=0)
    missing = [ch for ch in needed if ord(ch) not in font.face.charToGlyph]
    if missing:
        raise FontMissing(f"{path} lacks {' '.join(missing)}: the flags and text would print as boxes")
    pdfmetrics.registerFont(font)


def register() -> str:
    """Register both fonts once per process (call it in each worker's initializer); returns the CJK one."""
    if CJK not in pdfmetrics.getRegisteredFontNames():
        _load(CJK, CANDIDATES, NEEDED, "fonts-wqy-zenhei", "TELEMED_REPORT_FONT")
    if LATIN not in pdfmetrics.getRegisteredFontNames():
        _load(LATIN, LATIN_CANDIDATES, LATIN_NEEDED, "fonts-dejavu-core", "TELEMED_REPORT_LATIN_FONT")
    return CJK


def body_font(lang: str) -> str:
    return CJK if lang == "zh-CN" else LATIN


def has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


def runs(text: str, base: str) -> list[tuple[str, str]]:
    """``text`` cut into (piece, font) runs: CJK pieces in the CJK face, the rest in ``base``; in
    CJK-set text, what the CJK face lacks (the superscripts of ×10⁹/L, µ) in the Latin one."""
    return [("".join(piece), font) for font, piece in groupby(text, partial(_face, base))]


def one_face(text: str, base: str) -> bool:
    """Whether ``text`` prints in ``base`` alone (a plain string, not a paragraph of runs)."""
    return all(font == base for _, font in runs(text, base))


def _face(base: str, ch: str) -> str:
    if base == CJK:
        return LATIN if ord(ch) not in _glyphs(CJK) else CJK
    return CJK if _CJK_RUN.match(ch) else base


@cache
def _glyphs(font: str) -> dict[int, int]:
    return pdfmetrics.getFont(font).face.charToGlyph


def markup(escaped: str, base: str) -> str:
    """Paragraph markup (already escaped) with each run in another face switched to it."""
    return "".join(piece if font == base else f'<font name="{font}">{piece}</font>' for piece, font in runs(escaped, base))


def width(text: str, base: str, size: float) -> float:
    return sum(pdfmetrics.stringWidth(piece, font, size) for piece, font in runs(text, base))
