"""The wristband's QR code: made with segno, read back with zxing-cpp (a frame posted by a
device whose browser has no BarcodeDetector, or a test reading the printed PDF)."""

from __future__ import annotations

import io

import segno
import zxingcpp
from PIL import Image, UnidentifiedImageError


def png(text: str, scale: int = 8) -> bytes:
    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def decode(image: bytes) -> list[str]:
    """Every QR code's text found in an image (PNG, JPEG or WebP); none for an unreadable image."""
    try:
        picture = Image.open(io.BytesIO(image))
        picture.load()
    except (UnidentifiedImageError, OSError, ValueError):
        return []
    found = zxingcpp.read_barcodes(picture.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [b.text for b in found if b.valid]
