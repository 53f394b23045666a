"""The record's timeline: encounters, exams, consults, notes and reports, each with what it holds
(a note's text and its amendments, a consult note's diagnoses and prescriptions, a report's
values, flags and ranges), named in the reader's language at the facility's local time."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from ehr import charting, terminology, values
from ehr.store import Stored
from telemed import display
from telemed.i18n import translate

CONSULT = "consult"
LAB_CATEGORY = "LAB"
CONSULT_NOTE = "11488-4"
TIME_KEYS = ("effectiveDateTime", "issued", "authoredOn", "date", "recordedDate", "onsetDateTime", "start")


@dataclass(frozen=True)
class Namer:
    """How the page names things for one reader: language and the facility's zone."""

    lang: str
    tz: ZoneInfo

    def t(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)

    def specialty(self, value: str) -> str:
        """A consult's specialty by name; one the locales do not know is shown as it was written."""
        key = f"ehr.specialty.{value}"
        found = self.t(key)
        return value if found == key else found

    def when(self, value) -> str:
        return display.when(value, self.tz, self.lang)

    def day(self, value) -> str:
        return display.day(value, self.tz, self.lang)

    def unit(self, ucum: str) -> str:
        return display.unit(ucum, self.lang)

    @staticmethod
    def codes(value: dict | None) -> list[str]:
        return [c.get("code", "") for c in (value or {}).get("coding", []) if c.get("code")]

    def concept(self, value: dict | None) -> str:
        """A CodeableConcept for people: a vital sign's short name; else, in English, the coding's
        display before the (often Chinese) text; in Chinese, the text first."""
        if not value:
            return ""
        for coding in value.get("coding", []):
            code = coding.get("code", "")
            found = (terminology.title(code, self.lang) if coding.get("system") == terminology.ICD10_SYSTEM
                     else display.vital_name(code, self.lang))
            if found:
                return found
        displays = [c["display"] for c in value.get("coding", []) if c.get("display")]
        if self.lang == "en" and displays:
            return displays[0]
        return value.get("text") or (displays[0] if displays else "")

    @staticmethod
    def time_of(resource: dict) -> str:
        for key in TIME_KEYS:
            if resource.get(key):
                return resource[key]
        for key in ("effectivePeriod", "period", "occurrencePeriod"):
            if resource.get(key, {}).get("start"):
                return resource[key]["start"]
        return resource.get("occurrenceDateTime", "")

    def value(self, observation: dict) -> str:
        if "valueQuantity" in observation:
            return display.quantity(observation["valueQuantity"], self.lang)
        if "valueRange" in observation:
            low, high = observation["valueRange"].get("low", {}), observation["valueRange"].get("high", {})
            unit = self.unit(high.get("code") or low.get("code") or "")
            return f"{low.get('value', '')}–{high.get('value', '')} {unit}".strip()
        if "valueRatio" in observation:
            ratio = observation["valueRatio"]
            return f"{ratio.get('numerator', {}).get('value', '')}:{ratio.get('denominator', {}).get('value', '')}"
        if "component" in observation:
            quantities = [c.get("valueQuantity") for c in observation["component"]]
            if len(quantities) == 2 and all(quantities) and quantities[0].get("code") == quantities[1].get("code"):
                return f"{quantities[0].get('value')}/{quantities[1].get('value')} {self.unit(quantities[0].get('code', ''))}"
            return " / ".join(self.value(c) for c in observation["component"])
        if "valueCodeableConcept" in observation:
            return self.concept(observation["valueCodeableConcept"])
        for key in ("valueString", "valueBoolean", "valueInteger"):
            if key in observation:
                return str(observation[key])
        return ""

    def flag(self, observation: dict) -> str:
        """The worst flag of the observation or its components ("" for none)."""
        found = [c for part in [observation, *observation.get("component", [])]
                 for i in part.get("interpretation", []) for c in self.codes(i)]
        for worst in ("HH", "LL", "AA", "H", "L", "A", "IND", "N"):
            if worst in found:
                return worst
        return ""

    def reference_range(self, observation: dict) -> str:
        parts = [observation, *observation.get("component", [])]
        ranges = [r for part in parts for r in part.get("referenceRange", [])[:1]]
        return " / ".join(self._range(r) for r in ranges if self._range(r))

    def _range(self, band: dict) -> str:
        low, high = band.get("low"), band.get("high")
        if low is not None or high is not None:
            unit = self.unit((low or high).get("code", ""))
            text = f"{low['value'] if low else ''}–{high['value'] if high else ''}".strip("–")
            prefix = "≥" if high is None else ("≤" if low is None else "")
            return f"{prefix}{text} {unit}".strip()
        return band.get("text", "")

    def observation_row(self, observation: dict) -> dict:
        return {"id": observation.get("id", ""), "name": self.concept(observation.get("code")),
                "value": self.value(observation), "flag": self.flag(observation),
                "range": self.reference_range(observation), "at": self.when(self.time_of(observation)),
                "marks": values.marks(observation, self.lang), "notes": [n.get("text", "") for n in observation.get("note", [])],
                "history": observation.get("status") in values.WITH_HISTORY}


@dataclass
class Entry:
    at: str  # FHIR instant, for ordering
    kind: str  # encounter | exam | consult-request | consult-note | progress-note | lab-report | report
    title: str
    status: str
    detail: dict = field(default_factory=dict)


def attachment_text(attachment: dict) -> str:
    if not attachment.get("data") or not attachment.get("contentType", "").startswith("text/"):
        return ""
    try:
        return base64.b64decode(attachment["data"]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _ref_id(reference: dict | None, rtype: str) -> str:
    text = (reference or {}).get("reference", "")
    return text.split("/", 1)[1] if text.startswith(f"{rtype}/") else ""


class Timeline:
    def __init__(self, resources: list[Stored], name: Namer):
        self.name = name
        self.by_key = {(s.type, s.id): s.resource for s in resources}
        self.resources = resources

    def of_type(self, rtype: str) -> list[tuple[str, dict]]:
        return [(s.id, s.resource) for s in self.resources if s.type == rtype]

    def note_parts(self, resource: dict) -> list[tuple[str, str]]:
        parts = []
        for content in resource.get("content", []):
            attachment = content.get("attachment", {})
            text = attachment_text(attachment)
            if text:
                title = attachment.get("title", "")
                label = self.name.t(f"ehr.soap.{title}") if title in charting.SOAP else ""
                parts.append((label, text))
        return parts

    @staticmethod
    def note_fields(resource: dict) -> dict[str, str]:
        """The note's parts by form field (subjective... or text), to start an amendment from."""
        found = {}
        for content in resource.get("content", []):
            attachment = content.get("attachment", {})
            found[attachment.get("title") if attachment.get("title") in charting.SOAP else "text"] = attachment_text(attachment)
        return found

    def progress_note(self, rid: str, resource: dict) -> dict:
        draft = charting.is_draft(resource)
        when = self.name.when(resource.get("date"))
        detail = {"id": rid, "parts": self.note_parts(resource), "fields": self.note_fields(resource),
                  "author": ", ".join(a.get("display", "") for a in resource.get("author", [])),
                  "signed": "" if draft else when, "saved": when if draft else "", "draft": draft,
                  "drafted_by": charting.drafted_by(resource) if draft else "",
                  "amendable": resource.get("status") == "current" and not draft,
                  "shape": "soap" if any(label for label, _ in self.note_parts(resource)) else "free",
                  "reason": next((e.get("valueString", "") for e in resource.get("extension", [])
                                  if e.get("url") == charting.AMENDMENT_REASON), ""),
                  "history": []}
        replaced = next((_ref_id(r.get("target"), "DocumentReference") for r in resource.get("relatesTo", [])
                         if r.get("code") == "replaces"), "")
        if replaced and ("DocumentReference", replaced) in self.by_key:
            older = self.progress_note(replaced, self.by_key[("DocumentReference", replaced)])
            detail["history"] = [{k: older[k] for k in ("parts", "author", "signed", "reason")}, *older["history"]]
        return detail

    def consult_note(self, resource: dict) -> dict:
        consult = next((_ref_id(r, "ServiceRequest") for r in resource.get("context", {}).get("related", [])), "")
        diagnoses = [c for _, c in self.of_type("Condition") if consult and any(
            _ref_id(d, "ServiceRequest") == consult for e in c.get("evidence", []) for d in e.get("detail", []))]
        prescriptions = [m for _, m in self.of_type("MedicationRequest") if consult and any(
            _ref_id(b, "ServiceRequest") == consult for b in m.get("basedOn", []))]
        return {"parts": self.note_parts(resource), "consult": consult,
                "author": ", ".join(a.get("display", "") for a in resource.get("author", [])),
                "diagnoses": [self.name.concept(c.get("code")) for c in diagnoses],
                "prescriptions": [" · ".join(filter(None, [self.name.concept(m.get("medicationCodeableConcept")),
                                                           *(d.get("text", "") for d in m.get("dosageInstruction", []))]))
                                  for m in prescriptions]}

    def report(self, resource: dict) -> dict:
        rows = [self.name.observation_row(self.by_key[("Observation", oid)])
                for oid in (_ref_id(r, "Observation") for r in resource.get("result", []))
                if ("Observation", oid) in self.by_key]
        return {"rows": rows, "conclusion": resource.get("conclusion", "")}

    def encounter(self, rid: str) -> dict:
        """What was recorded during the encounter (an exam's vital signs, findings and studies)."""
        ref = {"reference": f"Encounter/{rid}"}
        rows = [self.name.observation_row(o) for _, o in self.of_type("Observation") if o.get("encounter") == ref]
        return {"rows": rows, "conclusion": ""}

    def entries(self) -> list[Entry]:
        found: list[Entry] = []
        for stored in self.resources:
            entry = self.entry(stored)
            if entry is not None:
                found.append(entry)
        found.sort(key=lambda e: e.at, reverse=True)
        return found

    def entry(self, stored: Stored) -> Entry | None:
        r, name = stored.resource, self.name
        at = name.time_of(r) or stored.last_updated.isoformat()
        state = r.get("status", "")
        if stored.type == "Encounter":
            exam = any("health-check" in name.codes(t) for t in r.get("type", []))
            title = name.concept((r.get("type") or [{}])[0]) or name.t("ehr.kind.encounter")
            return Entry(at, "exam" if exam else "encounter", title, state, self.encounter(stored.id))
        if stored.type == "ServiceRequest" and CONSULT in {c for cat in r.get("category", []) for c in name.codes(cat)}:
            question = ", ".join(q.get("text", "") for q in r.get("reasonCode", []))
            return Entry(at, "consult-request", name.specialty(r.get("code", {}).get("text", "")), state,
                         {"question": question, "consult": stored.id})
        if stored.type == "DocumentReference" and state == "current":
            if charting.is_progress_note(r):
                detail = self.progress_note(stored.id, r)
                return Entry(at, "progress-note", _first_line(detail["parts"]), "draft" if detail["draft"] else "signed",
                             detail)
            if CONSULT_NOTE in name.codes(r.get("type")):
                detail = self.consult_note(r)
                return Entry(at, "consult-note", _first_line(detail["parts"]), "signed", detail)
            if any(c.get("attachment", {}).get("contentType", "").startswith("video/") for c in r.get("content", [])):
                return Entry(at, "recording", name.t("ehr.kind.recording"), "", {})
            return Entry(at, "document", r.get("description") or name.concept(r.get("type")), "",
                         {"parts": self.note_parts(r)})
        if stored.type == "DiagnosticReport" and not r.get("encounter"):
            lab = LAB_CATEGORY in {c for cat in r.get("category", []) for c in name.codes(cat)}
            return Entry(at, "lab-report" if lab else "report", name.concept(r.get("code")), state, self.report(r))
        return None


def _first_line(parts: list[tuple[str, str]], limit: int = 48) -> str:
    text = next((t.strip().splitlines()[0] for _, t in parts if t.strip()), "")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def timeline(resources: list[Stored], name: Namer) -> list[Entry]:
    return Timeline(resources, name).entries()
