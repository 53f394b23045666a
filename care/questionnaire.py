"""The receiving-screening form: its questions, as a FHIR Questionnaire, and a person's answers
checked against it and written as a QuestionnaireResponse.

Sections follow NCCHC E-02 and the domains jail screening forms share: medications and chronic
conditions, allergies, injuries seen, TB symptoms, withdrawal risk, suicide and self-harm risk,
pregnancy, infectious disease history. Labels live in care/locales (care.q.<linkId>)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

QUESTIONNAIRE_ID = "intake-screening"
QUESTIONNAIRE_URL = "http://telemed.example.org/fhir/Questionnaire/intake-screening"
PREGNANCY = ("yes", "no", "unknown", "not-applicable")


@dataclass(frozen=True)
class Question:
    link: str
    kind: str  # boolean | text | choice
    text: str  # English, for the FHIR resource; pages show care.q.<link>
    required: bool = True


SECTIONS: tuple[tuple[str, tuple[Question, ...]], ...] = (
    ("medications", (
        Question("medication_now", "boolean", "Takes prescribed medication now"),
        Question("medication_list", "text", "Which medications, doses and times", required=False),
        Question("chronic_conditions", "text", "Chronic conditions (diabetes, hypertension, epilepsy, asthma, ...)",
                 required=False),
    )),
    ("allergies", (
        Question("allergy", "boolean", "Any allergy to medicines or food"),
        Question("allergy_list", "text", "Allergies and reactions", required=False),
    )),
    ("injuries", (
        Question("injury_seen", "boolean", "Injuries or signs of trauma seen"),
        Question("injury_description", "text", "Where and what", required=False),
    )),
    ("tb", (
        Question("tb_cough", "boolean", "Cough for two weeks or more"),
        Question("tb_blood", "boolean", "Coughing up blood"),
        Question("tb_fever_sweats", "boolean", "Fever or night sweats"),
        Question("tb_weight_loss", "boolean", "Unexplained weight loss"),
    )),
    ("withdrawal", (
        Question("alcohol_daily", "boolean", "Drinks alcohol daily, or had a withdrawal before"),
        Question("opioid_use", "boolean", "Uses opioids (heroin, methadone, ...)"),
        Question("withdrawal_signs", "boolean", "Signs of withdrawal or intoxication seen now"),
    )),
    ("suicide", (
        Question("suicide_thoughts", "boolean", "Thinks of killing or harming themself now"),
        Question("self_harm_history", "boolean", "Has attempted suicide or self-harm before"),
        Question("risk_observed", "boolean", "The screener sees signs of risk (despair, agitation, ...)"),
    )),
    ("pregnancy", (
        Question("pregnant", "choice", "Pregnant"),
    )),
    ("infectious", (
        Question("infection_history", "boolean", "Has had HIV, hepatitis B/C, syphilis or TB"),
        Question("infection_detail", "text", "Which, and treatment", required=False),
    )),
)
QUESTIONS = {q.link: q for _, questions in SECTIONS for q in questions}
TEXT_LIMIT = 500


class Refused(ValueError):
    """Answers that do not fit the form; names the question."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def check_answers(answers: object) -> dict[str, bool | str]:
    """The answers as the form takes them; the first one out of place is refused, naming it."""
    if not isinstance(answers, dict):
        raise Refused("answers must be an object of question: answer", "answers")
    for key in answers:
        if key not in QUESTIONS:
            raise Refused(f"{key}: no such question on the screening form", key)
    checked: dict[str, bool | str] = {}
    for link, question in QUESTIONS.items():
        value = answers.get(link)
        if value is None or value == "":
            if question.required:
                raise Refused(f"{link}: this question must be answered", link)
            continue
        checked[link] = _checked(question, value)
    return checked


def _checked(question: Question, value: object) -> bool | str:
    if question.kind == "boolean":
        if not isinstance(value, bool):
            raise Refused(f"{question.link}: answer true or false", question.link)
        return value
    if not isinstance(value, str):
        raise Refused(f"{question.link}: answer with text", question.link)
    if question.kind == "choice" and value not in PREGNANCY:
        raise Refused(f"{question.link}: one of {', '.join(PREGNANCY)}", question.link)
    if len(value) > TEXT_LIMIT:
        raise Refused(f"{question.link}: at most {TEXT_LIMIT} characters", question.link)
    return value.strip()


def questionnaire() -> dict:
    return {
        "resourceType": "Questionnaire", "url": QUESTIONNAIRE_URL, "name": "IntakeScreening",
        "title": "Receiving screening", "status": "active",
        "item": [{"linkId": section, "type": "group", "text": section,
                  "item": [_item(q) for q in questions]} for section, questions in SECTIONS],
    }


def _item(question: Question) -> dict:
    item = {"linkId": question.link, "type": question.kind, "text": question.text, "required": question.required}
    if question.kind == "choice":
        item["answerOption"] = [{"valueCoding": {"code": code}} for code in PREGNANCY]
    return item


def response(patient_id: str, answers: dict[str, bool | str], author: str, authored: datetime) -> dict:
    groups = []
    for section, questions in SECTIONS:
        items = [{"linkId": q.link, "answer": [_answer(q, answers[q.link])]} for q in questions if q.link in answers]
        if items:
            groups.append({"linkId": section, "item": items})
    return {
        "resourceType": "QuestionnaireResponse", "questionnaire": QUESTIONNAIRE_URL, "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"}, "authored": authored.isoformat(),
        "author": {"display": author}, "item": groups,
    }


def _answer(question: Question, value: bool | str) -> dict:
    if question.kind == "boolean":
        return {"valueBoolean": value}
    if question.kind == "choice":
        return {"valueCoding": {"code": value}}
    return {"valueString": value}


def answers_of(resource: dict) -> dict[str, bool | str]:
    """A stored QuestionnaireResponse's answers, keyed by question."""
    found: dict[str, bool | str] = {}
    for group in resource.get("item", []):
        for item in group.get("item", []):
            answer = (item.get("answer") or [{}])[0]
            if "valueBoolean" in answer:
                found[item["linkId"]] = answer["valueBoolean"]
            elif "valueCoding" in answer:
                found[item["linkId"]] = answer["valueCoding"].get("code", "")
            elif "valueString" in answer:
                found[item["linkId"]] = answer["valueString"]
    return found


def negative() -> dict[str, bool | str]:
    """Every yes/no question answered no, pregnancy not applicable: the answers of someone well."""
    return {link: False for link, q in QUESTIONS.items() if q.kind == "boolean"} | {"pregnant": "not-applicable"}
