"""Clinical values as people write them, for every package's pages and PDFs: UCUM units
(``mm[Hg]`` is "mmHg", ``Cel`` is "°C"), short vital-sign names in each language instead of
LOINC's long displays, and one date format per language in the facility's time zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from telemed.timeutil import local

# UCUM code -> how it is printed; codes missing here read well as they are (kg, cm, mmol/L).
UNITS = {
    "mm[Hg]": "mmHg", "Cel": "°C", "[degF]": "°F", "10*9/L": "×10⁹/L", "10*12/L": "×10¹²/L", "10*6/L": "×10⁶/L",
    "10*3/uL": "×10³/µL", "10*6/uL": "×10⁶/µL", "umol/L": "µmol/L", "ug/L": "µg/L", "ug/dL": "µg/dL", "uL": "µL",
    "u[IU]/mL": "µIU/mL", "m[IU]/L": "mIU/L", "[IU]/mL": "IU/mL", "[IU]/L": "IU/L", "kg/m2": "kg/m²",
    "/[HPF]": "/HPF", "/[LPF]": "/LPF", "{beats}/min": "/min", "{breaths}/min": "/min", "1": "",
    "/uL": "/µL", "{ratio}": "", "mL/min/{1.73_m2}": "mL/min/1.73 m²",
}
# Per-minute rates read "次/分" in Chinese clinical writing.
UNITS_ZH = {"/min": "次/分", "{beats}/min": "次/分", "{breaths}/min": "次/分"}

# LOINC -> (English, Chinese) short names, as written on a vital-signs chart.
VITAL_NAMES = {
    "85354-9": ("BP", "血压"), "55284-4": ("BP", "血压"),
    "8480-6": ("Systolic BP", "收缩压"), "8462-4": ("Diastolic BP", "舒张压"),
    "8867-4": ("Pulse", "脉搏"), "8889-8": ("Pulse", "脉搏"),
    "8310-5": ("Temperature", "体温"), "9279-1": ("Resp. rate", "呼吸"),
    "59408-5": ("SpO₂", "血氧饱和度"), "2708-6": ("SpO₂", "血氧饱和度"),
    "29463-7": ("Weight", "体重"), "8302-2": ("Height", "身高"), "39156-5": ("BMI", "体重指数"),
    "14743-9": ("Glucose (finger-stick)", "指尖血糖"), "2339-0": ("Glucose", "血糖"), "15074-8": ("Glucose", "血糖"),
}

DATE_TIME = {"en": "%d %b %Y %H:%M", "zh-CN": "%Y-%m-%d %H:%M"}
DATE = {"en": "%d %b %Y", "zh-CN": "%Y-%m-%d"}


def unit(ucum: str | None, lang: str) -> str:
    ucum = ucum or ""
    if lang == "zh-CN" and ucum in UNITS_ZH:
        return UNITS_ZH[ucum]
    return UNITS.get(ucum, ucum)


def quantity(value: dict, lang: str) -> str:
    """A FHIR Quantity: the number as written, with its comparator (``<0.5``), then the unit as
    people write it."""
    number = f"{value.get('comparator', '')}{value.get('value', '')}"
    shown = unit(value.get("code") or value.get("unit"), lang)
    if not shown:
        return f"{number}"
    return f"{number}{shown}" if shown in ("°C", "°F", "%") else f"{number} {shown}"


def vital_name(loinc: str, lang: str) -> str | None:
    names = VITAL_NAMES.get(loinc)
    return None if names is None else names[0 if lang == "en" else 1]


def parse_instant(value: str | datetime | date) -> datetime | date | None:
    """A FHIR dateTime/instant/date; a date alone stays a date (it has no time zone)."""
    if isinstance(value, (datetime, date)):
        return value
    text = value.strip()
    try:
        if len(text) <= 10:
            return date.fromisoformat(text) if len(text) == 10 else None
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _local(value: str | datetime | date, tz: ZoneInfo) -> datetime | date | None:
    """The value in the facility's zone; a date, or a dateTime written without a zone (local
    already), as it is."""
    parsed = parse_instant(value)
    if isinstance(parsed, datetime) and parsed.tzinfo is not None:
        return local(parsed, tz)
    return parsed


def when(value: str | datetime | date | None, tz: ZoneInfo, lang: str) -> str:
    """A time in the facility's zone, in the language's one format; a date alone as a date."""
    found = _local(value, tz) if value else None
    if found is None:
        return str(value or "")
    formats = DATE_TIME if isinstance(found, datetime) else DATE
    return found.strftime(formats.get(lang, formats["en"]))


def day(value: str | datetime | date | None, tz: ZoneInfo, lang: str) -> str:
    """Only the (local) date."""
    found = _local(value, tz) if value else None
    if found is None:
        return str(value or "")
    return found.strftime(DATE.get(lang, DATE["en"]))
