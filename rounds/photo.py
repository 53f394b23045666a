"""The detainee's photo: kept as a JPEG of at most 480 x 640 pixels in its own table, which
Patient.photo points at (url, size, hash), so that reading a Patient never carries the image.
An uploaded or camera image is re-encoded: its metadata (place, device) is not kept."""

from __future__ import annotations

import base64
import hashlib
import io

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlmodel import Session

from ehr import interactions
from ehr.access import Gate
from rounds.models import PatientPhoto
from telemed.timeutil import fhir_instant, utcnow

SIZE = (480, 640)
MAX_PIXELS = 40_000_000


class NotAPhoto(ValueError):
    pass


def normalised(image: bytes) -> bytes:
    try:
        picture = Image.open(io.BytesIO(image))
        if picture.width * picture.height > MAX_PIXELS:
            raise NotAPhoto("image too large")
        picture = ImageOps.exif_transpose(picture).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NotAPhoto(str(exc)) from None
    picture.thumbnail(SIZE)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    return out.getvalue()


def url_of(patient_id: str) -> str:
    return f"/api/rounds/photo/{patient_id}"


def store(session: Session, gate: Gate, patient_id: str, image: bytes, author: str) -> None:
    """Keep the photo and point the Patient at it (the Patient write goes through the policy)."""
    data = normalised(image)
    digest = hashlib.sha1(data).digest()
    stored = interactions.read(session, gate, "Patient", patient_id)
    patient = stored.resource
    patient["photo"] = [{"contentType": "image/jpeg", "url": url_of(patient_id), "size": len(data),
                         "hash": base64.b64encode(digest).decode(), "creation": fhir_instant(utcnow())}]
    interactions.update(session, gate, patient, "Patient", patient_id)
    row = session.get(PatientPhoto, patient_id) or PatientPhoto(patient_id=patient_id, content_type="image/jpeg",
                                                                data=b"", sha1="")
    row.data, row.sha1, row.taken_by, row.taken_at = data, digest.hex(), author, utcnow()
    session.add(row)


def read(session: Session, patient_id: str) -> PatientPhoto | None:
    return session.get(PatientPhoto, patient_id)
