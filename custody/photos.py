"""A detainee's photo (Patient.photo, as the booking office takes it), for the officer who must
recognise whom to bring: the only picture an officer sees."""

from __future__ import annotations

import base64
import binascii

from sqlmodel import Session

from ehr import store

IMAGE_TYPES = ("image/jpeg", "image/png")


def photo_of(patient: dict) -> tuple[str, bytes] | None:
    for attachment in patient.get("photo", []):
        if attachment.get("contentType") in IMAGE_TYPES and attachment.get("data"):
            try:
                return attachment["contentType"], base64.b64decode(attachment["data"], validate=True)
            except binascii.Error:
                continue
    return None


def photo(session: Session, patient_id: str) -> tuple[str, bytes] | None:
    return photo_of(store.read(session, "Patient", patient_id).resource)


def with_photos(session: Session, patient_ids: list[str]) -> set[str]:
    """Which of ``patient_ids`` have a photo."""
    return {pid for pid in set(patient_ids) if photo(session, pid) is not None}
