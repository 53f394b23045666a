"""The ID card clipped to the wristband: a CR80 card (85.6 x 54 mm) with the photo, the name, the
booking number, the date of birth and a QR code of the booking number with its check digits.
Nothing clinical is printed: the card is seen by everyone the detainee meets. Both fonts are
TrueType and embedded, so the card prints the same anywhere."""

from __future__ import annotations

import io
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from reports import fonts
from rounds import qr
from rounds.checkdigit import with_check

CARD = (85.6 * mm, 54 * mm)
MARGIN = 3 * mm
PHOTO = (24 * mm, 32 * mm)
QR_SIDE = 26 * mm


@dataclass(frozen=True)
class Card:
    name: str
    booking_number: str
    birth_date: str  # as the reader's language writes it
    labels: dict[str, str]  # "booking", "born", "code": in the reader's language
    photo: bytes | None = None


def _text(canvas: Canvas, x: float, y: float, text: str, base: str, size: float) -> None:
    for piece, font in fonts.runs(text, base):
        canvas.setFont(font, size)
        canvas.drawString(x, y, piece)
        x += canvas.stringWidth(piece, font, size)


def pdf(cards: list[Card], lang: str) -> bytes:
    fonts.register()
    base = fonts.body_font(lang)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=CARD, pageCompression=1, initialFontName=base)
    canvas.setTitle("ID card")
    for card in cards:
        _draw(canvas, card, base)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _draw(canvas: Canvas, card: Card, base: str) -> None:
    width, height = CARD
    top = height - MARGIN
    if card.photo:
        canvas.drawImage(ImageReader(io.BytesIO(card.photo)), MARGIN, top - PHOTO[1], *PHOTO,
                         preserveAspectRatio=True, anchor="n")
    else:
        canvas.rect(MARGIN, top - PHOTO[1], *PHOTO)
    code = with_check(card.booking_number)
    canvas.drawImage(ImageReader(io.BytesIO(qr.png(code))), width - MARGIN - QR_SIDE, MARGIN, QR_SIDE, QR_SIDE)
    x = MARGIN * 2 + PHOTO[0]
    _text(canvas, x, top - 6 * mm, card.name, base, 12)
    _text(canvas, x, top - 12 * mm, f"{card.labels['booking']} {card.booking_number}", base, 8)
    _text(canvas, x, top - 17 * mm, f"{card.labels['born']} {card.birth_date}", base, 8)
    _text(canvas, MARGIN, MARGIN + 1 * mm, f"{card.labels['code']} {code}", base, 7)
