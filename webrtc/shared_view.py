"""What the consult room shows of each shared or produced item, in the reader's language and
the facility's time zone: a lab panel as rows of value, unit, range, flag and time; a
document's text; a diagnosis; a prescription; and each shared test's values as a trend.

Only resources the caller was allowed to read come in; nothing here reads the store."""

from __future__ import annotations

import base64
import binascii
from zoneinfo import ZoneInfo

from ehr import values
from labs import qualitative
from labs.catalog import LOINC, PANEL_SYSTEM, catalogue
from telemed import display
from telemed.i18n import translate
from webrtc import prescriptions

Item = tuple[dict, dict]  # ({type, id, produced}, FHIR resource)
DOCUMENT_TITLES = {"11488-4": "consult_note_title", "18748-4": "recording_title"}  # LOINC document types


def _code(concept: dict | None, system: str) -> str | None:
    return next((c.get("code") for c in (concept or {}).get("coding", []) if c.get("system") == system), None)


def _concept_text(concept: dict | None) -> str:
    concept = concept or {}
    return concept.get("text") or next((c.get("display") or c.get("code", "") for c in concept.get("coding", [])), "")


class Reader:
    """Turns FHIR resources into display rows for one language and time zone."""

    def __init__(self, lang: str, tz: ZoneInfo) -> None:
        self.lang, self.tz = lang, tz

    def when(self, value: str | None) -> str:
        return display.when(value, self.tz, self.lang)

    def _(self, key: str) -> str:
        return translate(self.lang, f"webrtc.{key}")

    def test_name(self, observation: dict) -> tuple[str | None, str]:
        loinc = _code(observation.get("code"), LOINC)
        test = catalogue().test(loinc) if loinc else None
        if test is not None:
            return loinc, f"{test.name(self.lang)} ({test.abbr})"
        return loinc, _concept_text(observation.get("code"))

    def value(self, observation: dict) -> tuple[str, str]:
        if "valueQuantity" in observation:  # as written: <0.5 for a value below the detection limit
            q = observation["valueQuantity"]
            return q.get("comparator", "") + values.number(q.get("value")), display.unit(q.get("code") or q.get("unit"), self.lang)
        if "valueRange" in observation:
            low, high = observation["valueRange"].get("low", {}), observation["valueRange"].get("high", {})
            return (f"{values.number(low.get('value'))}-{values.number(high.get('value'))}",
                    display.unit(high.get("code") or low.get("code"), self.lang))
        if "valueRatio" in observation:
            ratio = observation["valueRatio"]
            return f"{values.number(ratio.get('numerator', {}).get('value'))}:{values.number(ratio.get('denominator', {}).get('value'))}", ""
        if "valueCodeableConcept" in observation:
            concept = observation["valueCodeableConcept"]
            coded = next((c.get("code") for c in concept.get("coding", [])), None)
            return (qualitative.label(coded, self.lang) if coded else _concept_text(concept)), ""
        parts = [c.get("valueQuantity", {}) for c in observation.get("component", [])]
        if parts and all("value" in p for p in parts):  # blood pressure: 130/85 mmHg
            return "/".join(values.number(p["value"]) for p in parts), display.unit(parts[0].get("code"), self.lang)
        return str(observation.get("valueString", "")), ""

    def lab_row(self, observation: dict) -> dict:
        loinc, name = self.test_name(observation)
        value, unit = self.value(observation)
        flag = _code((observation.get("interpretation") or [{}])[0],
                     "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation") or ""
        return {"id": observation.get("id"), "loinc": loinc, "name": name, "value": value, "unit": unit,
                "range": values.reference_range(observation), "flag": flag,
                "marks": [label for _, label in values.marks(observation, self.lang)],  # haemolysed, corrected
                "flag_label": translate(self.lang, f"labs.flag_{flag}") if flag else "",
                "at": self.when(observation.get("effectiveDateTime") or observation.get("issued")),
                "sort_at": observation.get("effectiveDateTime") or ""}

    def document(self, resource: dict) -> dict:
        attachment = (resource.get("content") or [{}])[0].get("attachment", {})
        entry = {"kind": "document", "title": resource.get("description") or _concept_text(resource.get("type")),
                 "at": self.when(resource.get("date")),
                 "author": ", ".join(a.get("display", "") for a in resource.get("author", []))}
        if attachment.get("data"):
            try:
                entry["text"] = base64.b64decode(attachment["data"]).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                entry["text"] = ""
        elif attachment.get("url"):
            entry["link"] = attachment["url"]
            entry["title"] = entry["title"] or attachment.get("title", "")
        kind = DOCUMENT_TITLES.get(_code(resource.get("type"), LOINC) or "")
        if kind:
            entry["title"] = self._(kind)
        return entry

    def label(self, resource: dict) -> tuple[str, str]:
        """A one-line name and the local time of a shareable resource, for the request form."""
        kind = resource["resourceType"]
        if kind == "DiagnosticReport":
            return self.panel_title(resource), self.when(resource.get("effectiveDateTime"))
        if kind == "Observation":
            row = self.lab_row(resource)
            return f"{row['name']}: {row['value']} {row['unit']}".strip(), row["at"]
        document = self.document(resource)
        return document["title"], document["at"]

    def panel_title(self, report: dict) -> str:
        panel = catalogue().panels.get(_code(report.get("code"), PANEL_SYSTEM) or "")
        return panel.name(self.lang) if panel else _concept_text(report.get("code"))


def room_items(items: list[Item], lang: str, tz: ZoneInfo) -> dict:
    """``{"entries": [...], "trends": {loinc: {...}}}``: the room's panel, in the order shared."""
    reader = Reader(lang, tz)
    observations = {key["id"]: resource for key, resource in items if key["type"] == "Observation"}
    in_reports = {ref["reference"].removeprefix("Observation/")
                  for key, resource in items if key["type"] == "DiagnosticReport"
                  for ref in resource.get("result", [])}
    entries = []
    for key, resource in items:
        base = {"type": key["type"], "id": key["id"], "produced": key["produced"]}
        if key["type"] == "DiagnosticReport":
            rows = [reader.lab_row(observations[rid]) for ref in resource.get("result", [])
                    if (rid := ref["reference"].removeprefix("Observation/")) in observations]
            entries.append(base | {"kind": "results", "title": reader.panel_title(resource), "rows": rows,
                                   "at": reader.when(resource.get("effectiveDateTime"))})
        elif key["type"] == "Observation" and key["id"] not in in_reports:
            row = reader.lab_row(resource)
            entries.append(base | {"kind": "results", "title": row["name"], "rows": [row], "at": row["at"]})
        elif key["type"] == "DocumentReference":
            entries.append(base | reader.document(resource))
        elif key["type"] == "Condition":
            code = _code(resource.get("code"), "http://hl7.org/fhir/sid/icd-10")
            entries.append(base | {"kind": "diagnosis", "code": code or "", "text": _concept_text(resource.get("code"))})
        elif key["type"] == "MedicationRequest":
            entries.append(base | {"kind": "prescription", "text": prescriptions.describe_resource(resource)})
    entries.sort(key=lambda e: not e["produced"])  # the signed note and its orders first, then what was shared
    return {"entries": entries, "trends": trends([reader.lab_row(o) for o in observations.values()], observations)}


def trends(rows: list[dict], observations: dict[str, dict]) -> dict[str, dict]:
    """Each shared test's numeric values over time, with its reference interval, for a sparkline."""
    found: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["sort_at"]):
        quantity = observations[row["id"]].get("valueQuantity", {})
        if not row["loinc"] or quantity.get("value") is None or quantity.get("comparator"):
            continue  # a censored value (<0.5) is no point on a line
        ref = (observations[row["id"]].get("referenceRange") or [{}])[0]
        series = found.setdefault(row["loinc"], {"name": row["name"], "unit": row["unit"],
                                                 "low": ref.get("low", {}).get("value"),
                                                 "high": ref.get("high", {}).get("value"), "points": []})
        series["points"].append({"at": row["at"], "value": quantity["value"], "flag": row["flag"]})
    return found
