"""Positive identification at the point of care (Joint Commission NPSG.01.01.01): two
identifiers, the name and the booking number (with the date of birth shown beside them), never
the cell. The wristband's code carries the booking number with its check digits; the person
checking compares the photo and the name with the detainee in front of them and confirms.

A face verifier may help that comparison, behind ``FaceVerifier``: a photo in, a match score out.
None ships (no registry package here carries a face model that runs offline with a published
error rate), so none is configured, and no score ever opens a record without a person's
confirmation of the photo.
"""

from __future__ import annotations

from typing import Protocol

from sqlmodel import Session, func, select

from rounds.checkdigit import booking_of
from telemed.models import CustodyStatus, Detainee

METHODS = ("scanned", "typed")


class FaceVerifier(Protocol):
    def score(self, enrolled: bytes, probe: bytes) -> float:
        """How alike two face photos are, 0 (different people) to 1 (the same person)."""


def find(session: Session, facility_id: str, code: str) -> Detainee | None:
    """The detainee in custody in this facility whose wristband code this is."""
    booking = booking_of(code)
    if booking is None:
        return None
    return session.exec(select(Detainee).where(Detainee.facility_id == facility_id,
                                               func.upper(Detainee.booking_number) == booking,
                                               Detainee.status == CustodyStatus.IN_CUSTODY)).first()
