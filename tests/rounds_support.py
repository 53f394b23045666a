"""Shared by the rounds tests: the audit entries of an action, a photo, and prescriptions written
through the record page's own route."""

from __future__ import annotations

import io
from datetime import date, timedelta

from PIL import Image, ImageDraw
from sqlmodel import select

from telemed.models import AuditEntry


def audited(context, action: str) -> list[AuditEntry]:
    return context.db.call(lambda s: s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                            .order_by(AuditEntry.seq)).all())


def face_png() -> bytes:
    """A drawn face, big enough to be kept as a photo."""
    picture = Image.new("RGB", (600, 800), (230, 210, 190))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((150, 150, 450, 550), fill=(240, 200, 170), outline=(60, 40, 30), width=6)
    draw.ellipse((220, 280, 260, 320), fill=(30, 30, 30))
    draw.ellipse((340, 280, 380, 320), fill=(30, 30, 30))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


async def prescribe(client, headers, patient_id: str, drug: str, frequency: str = "qd", days_ago: int = 0) -> None:
    start = (date.today() - timedelta(days=days_ago)).isoformat()
    response = await client.post(f"/api/record/{patient_id}/medications", headers=headers, json={
        "drug": drug, "dose": "10", "dose_unit": "mg", "route": "oral", "frequency": frequency, "start": start})
    assert response.status == 201, await response.text()
