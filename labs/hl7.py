"""HL7 v2 ORU^R01 from analyzers: parse, file through the common result path, answer with an ACK.

Answers: AA when every observation was filed; AE when some were not (bad value, or held for
review), saying why in MSA-3 and ERR; AR when the message itself cannot be processed. Unknown
test codes and unknown detainees are held for review, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import hl7
from sqlmodel import Session

from labs.catalog import catalogue
from labs.codemaps import NO_MAP, CodeMap, code_map
from labs.corrections import WITHDRAWN
from labs.held import hold
from labs.held_reasons import OTHERS_FILED
from labs.models import HeldMessage
from labs.results import Rejected, Subject, Submission, check, file, status_of, subjects
from labs.units import normalise_unit
from telemed.timeutil import utcnow

SKIPPED_VALUE_TYPES = {"ED", "RP"}  # histograms and scattergrams travel as Base64 images
PERCENT_UNITS = {"%", ""}


@dataclass(frozen=True)
class Ack:
    code: str  # AA | AE | AR
    text: str
    message: str  # the ACK to send

    @property
    def accepted(self) -> bool:
        return self.code == "AA"


def escape(text: str) -> str:
    for raw, escaped in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        text = text.replace(raw, escaped)
    return text.replace("\r", " ").replace("\n", " ")


def ack(code: str, text: str, *, control_id: str = "", receiver: tuple[str, str] = ("", ""),
        version: str = "2.3.1") -> Ack:
    stamp = utcnow().strftime("%Y%m%d%H%M%S")
    segments = [f"MSH|^~\\&|TELEMED|LAB|{receiver[0]}|{receiver[1]}|{stamp}||ACK^R01|ACK{control_id}|P|{version}",
                f"MSA|{code}|{control_id}|{escape(text)[:800]}"]
    if code != "AA":
        error = "207&Application internal error&HL70357" if code == "AE" else "200&Unsupported message&HL70357"
        segments.append(f"ERR|^^^{error}|||E||||{escape(text)[:800]}")
    return Ack(code, text, "\r".join(segments))


def _segments(message, name: str) -> list:
    try:
        return list(message.segments(name))
    except KeyError:
        return []


def _field(segment, index: int, component: int = 1) -> str:
    """Component ``component`` of the first repetition of field ``index`` (HL7 numbering), as text."""
    try:
        raw = str(segment(index))
    except (IndexError, KeyError):
        return ""
    parts = raw.split("~")[0].split("^")
    return parts[component - 1].strip() if component <= len(parts) else ""


_TS = re.compile(r"^(\d{8}(?:\d{2}(?:\d{2}(?:\d{2})?)?)?)(?:\.\d+)?([+-]\d{4})?$")


def _time(text: str, tz: ZoneInfo) -> datetime | None:
    """An HL7 TS (YYYYMMDD[HH[MM[SS]]][.S][+/-ZZZZ]); without an offset, in the facility's zone."""
    found = _TS.match(text.strip())
    if not found:
        return None
    digits, offset = found.groups()
    moment = datetime.strptime(digits.ljust(14, "0"), "%Y%m%d%H%M%S")
    if offset:
        minutes = int(offset[1:3]) * 60 + int(offset[3:])
        return moment.replace(tzinfo=timezone(timedelta(minutes=minutes if offset[0] == "+" else -minutes)))
    return moment.replace(tzinfo=tz)


def _is_mindray(sender: str) -> bool:
    return "MINDRAY" in sender.upper() or sender.upper().startswith("BC-")


@dataclass(frozen=True)
class Header:
    """Who sent a message and how to answer it: read before it is processed, to authenticate it."""

    application: str  # MSH-3, first component
    facility: str  # MSH-4, first component
    control_id: str
    version: str
    booking: str  # PID-3, the detainee it is about ("" when there is none)

    def refusal(self, reason: str) -> Ack:
        return ack("AR", reason, control_id=self.control_id, receiver=(self.application, self.facility),
                   version=self.version)


def normalise(text: str) -> str:
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")


def header(text: str) -> Header | None:
    """The sender's identity in MSH (None for text that is not HL7)."""
    try:
        message = hl7.parse(normalise(text))
        msh = message.segment("MSH")
    except Exception:  # noqa: BLE001 - python-hl7 raises assorted errors on garbage
        return None
    pid = _segments(message, "PID")
    return Header(_field(msh, 3), _field(msh, 4), _field(msh, 10), _field(msh, 12) or "2.3.1",
                  _field(pid[0], 3) if pid else "")


def process(session: Session, text: str, facility_id: str, tz: ZoneInfo, codes: CodeMap = NO_MAP) -> Ack:
    """File what can be filed, hold what needs a person, and say so in the ACK. ``codes``: the
    sending analyzer's test-code map."""
    text = normalise(text)
    try:
        message = hl7.parse(text)
        msh = message.segment("MSH")
    except Exception as exc:  # noqa: BLE001 - python-hl7 raises assorted errors on garbage
        return ack("AR", f"malformed HL7 message: {exc}")
    control_id = _field(msh, 10)
    sender = " ".join(filter(None, (_field(msh, 3), _field(msh, 3, 2), _field(msh, 4))))
    reply = {"control_id": control_id, "receiver": (_field(msh, 3), _field(msh, 4)), "version": _field(msh, 12) or "2.3.1"}
    kind = f"{_field(msh, 9)}^{_field(msh, 9, 2)}"
    if kind != "ORU^R01":
        return ack("AR", f"unsupported message type {kind}; this interface accepts ORU^R01", **reply)
    try:
        pid = message.segment("PID")
        obr = message.segment("OBR")
    except KeyError as exc:
        return ack("AR", f"missing segment {exc}", **reply)
    booking = _field(pid, 3)
    if not booking:
        return ack("AR", "PID-3 (booking number) is empty", **reply)
    at = _time(_field(obr, 7), tz) or _time(_field(msh, 7), tz)
    if at is None:
        return ack("AR", "no observation time in OBR-7 or MSH-7", **reply)
    subject = subjects(session, bookings={booking}).get(booking)
    if subject is None or subject.facility_id != facility_id:
        reason = f"unknown detainee {booking} in this facility: held for review"
        hold(session, channel="hl7", facility_id=facility_id, sender=sender, reason=reason, content=text,
             analyzer_id=codes.analyzer_id)
        return ack("AE", reason, **reply)
    checked, problems, unknown = _check_observations(message, subject, at, _is_mindray(sender), codes)
    filed = file(session, checked, "hl7")
    if unknown:
        hold(session, channel="hl7", facility_id=facility_id, sender=sender,
             reason="; ".join(unknown) + (OTHERS_FILED if checked else ""), content=text, analyzer_id=codes.analyzer_id)
    if not unknown and not problems:
        return ack("AA", f"filed {len(filed.results)}, duplicates {filed.duplicates}", **reply)
    notes = problems + [f"{u}: held for review" for u in unknown]
    return ack("AE", f"filed {len(filed.results)}; " + "; ".join(notes), **reply)


def _check_observations(message, subject: Subject, at: datetime, fractions: bool, codes: CodeMap):
    """(checked results, rejected OBX reasons, OBX reasons to hold) of one message."""
    checked, problems, unknown = [], [], []
    for obx, notes, request in _observations(message):
        value_type, status, value = _field(obx, 2), status_of(_field(obx, 11)), _value(obx)
        if value_type in SKIPPED_VALUE_TYPES or status is None or (not value.strip() and status not in WITHDRAWN):
            continue
        try:
            code, unit = mapped_code(obx, codes)
            test = catalogue().test(code)
            if fractions and test is not None and test.unit == "%" and unit in PERCENT_UNITS:
                unit = "1"  # Mindray sends percentages and HCT as fractions (0.405)
            sub = Submission(subject.patient_id, code, value, at, unit=unit, status=status, notes=notes,
                             report_notes=request.notes, specimen_id=request.specimen_id)
            checked.append(check(sub, subject))
        except Rejected as exc:
            (unknown if exc.hold else problems).append(f"OBX {_set_id(obx)}: {exc}")
    return checked, problems, unknown


def mapped_code(obx, codes: CodeMap) -> tuple[str, str]:
    """(catalogue code, unit) of an OBX: through the analyzer's map when it has the code (its
    unit when OBX-6 is empty), else OBX-3 as sent. A unit that contradicts the map is refused:
    the analyzer's set-up has changed, and a value in the wrong unit must not be filed."""
    code, unit = _field(obx, 3), _field(obx, 6)
    mapped = codes.get(code)
    if mapped is None:
        return code, unit
    if unit and mapped.unit and normalise_unit(unit) != mapped.unit:
        raise Rejected(f"{code}: unit {unit!r} is not the mapped unit {mapped.unit!r}")
    return mapped.loinc, unit or mapped.unit


def unknown_codes(text: str, codes: CodeMap) -> list[dict]:
    """The OBX codes of a message that neither the analyzer's map nor the catalogue knows."""
    try:
        message = hl7.parse(normalise(text))
    except Exception:  # noqa: BLE001 - a held message may be any text
        return []
    found: dict[str, dict] = {}
    for obx, _notes, _request in _observations(message):
        code = _field(obx, 3)
        if (code and _field(obx, 2) not in SKIPPED_VALUE_TYPES and codes.get(code) is None
                and catalogue().test(code) is None):
            found.setdefault(code, {"code": code, "text": _field(obx, 3, 2), "unit": _field(obx, 6)})
    return list(found.values())


def _value(obx) -> str:
    """OBX-5 whole: an SN value keeps its components (``>^30``, ``^1^-^5``)."""
    try:
        raw = str(obx(5))
    except (IndexError, KeyError):
        return ""
    return raw.split("~")[0]


@dataclass(frozen=True)
class Request:
    """What an OBR says for the OBX segments under it."""

    specimen_id: str | None
    notes: tuple[str, ...]


def _observations(message) -> list[tuple[object, tuple[str, ...], Request]]:
    """Each OBX with the comments (NTE) that follow it and its OBR's (the NTEs between the OBR
    and its first OBX, and the specimen: OBR-3 filler order number, else OBR-2 placer's)."""
    found: list[list] = []
    request, request_notes, after_obx = Request(None, ()), [], False
    for segment in message:
        name = str(segment[0])
        if name == "OBR":
            request_notes, after_obx = [], False
            request = Request(_field(segment, 3) or _field(segment, 2) or None, ())
        elif name == "OBX":
            after_obx = True
            found.append([segment, [], request])
        elif name == "NTE":
            text = _comment(message, segment)
            if text and after_obx:
                found[-1][1].append(text)
            elif text:
                request_notes.append(text)
                request = Request(request.specimen_id, tuple(request_notes))
    return [(obx, tuple(notes), req) for obx, notes, req in found]


def _comment(message, nte) -> str:
    """NTE-3, its repetitions joined, with HL7 escapes undone."""
    try:
        raw = str(nte(3))
    except (IndexError, KeyError):
        return ""
    return " ".join(message.unescape(part).strip() for part in raw.split("~") if part.strip())


def retry_held(session: Session, held_id: int, facility_id: str, user_id: int, tz: ZoneInfo) -> Ack | None:
    """Process a held message again (say, once the detainee is registered). The held row is
    resolved either way: whatever is still unknown is held again as a new row."""
    held = session.get(HeldMessage, held_id)
    if held is None or held.facility_id != facility_id or held.channel != "hl7" or held.resolved_at is not None:
        return None
    outcome = process(session, held.content, facility_id, tz, code_map(session, held.analyzer_id))
    held.resolved_at, held.resolved_by = utcnow(), user_id
    session.add(held)
    return outcome


def _set_id(obx) -> str:
    return _field(obx, 1)
