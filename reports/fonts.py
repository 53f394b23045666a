"""The embedded CJK font of the reports. reportlab reads TrueType (.ttf/.ttc) but not OTF/CFF,
so Noto CJK will not do; Debian's fonts-wqy-zenhei is TrueType and holds the ↑/↓ arrows."""

from __future__ import annotations

import os
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT = "WenQuanYiZenHei"
CANDIDATES = (
    Path(os.environ.get("TELEMED_REPORT_FONT", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)


# The flag arrows and a few common characters: a font without them cannot print a report.
NEEDED = "↑↓体检报告"


class FontMissing(RuntimeError):
    pass


def register() -> str:
    """Register the font once per process (call it in each worker's initializer); returns its name."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return FONT
    path = next((p for p in CANDIDATES if p.is_file()), None)
    if path is None:
        raise FontMissing("no CJK TrueType font: install fonts-wqy-zenhei (scripts/system-deps.sh) "
                          "or set TELEMED_REPORT_FONT to a .ttf/.ttc file")
    font = TTFont(FONT, str(path), subfontIndex=0)
    missing = [ch for ch in NEEDED if ord(ch) not in font.face.charToGlyph]
    if missing:
        raise FontMissing(f"{path} lacks {' '.join(missing)}: the flags and Chinese text would print as boxes")
    pdfmetrics.registerFont(font)
    return FONT
