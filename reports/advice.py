"""Advice printed beside each abnormal finding, and how urgently it needs follow-up.

Keyed by LOINC code and direction (H: high or positive, L: low). Anything without an entry
gets the generic advice for its flag. Critical flags (HH/LL) are always urgent.
"""

from __future__ import annotations

URGENT, SOON, ROUTINE = "urgent", "soon", "routine"
URGENCY_ORDER = {URGENT: 0, SOON: 1, ROUTINE: 2}

# (loinc, direction) -> (zh, en, urgency)
ADVICE: dict[tuple[str, str], tuple[str, str, str]] = {
    ("85354-9", "H"): ("血压偏高，建议非同日复测血压，确诊高血压后规范治疗。",
                       "Raised blood pressure: re-measure on another day; treat if hypertension is confirmed.", SOON),
    ("39156-5", "H"): ("体重超标，建议控制饮食、增加运动。", "Overweight: diet and exercise advice.", ROUTINE),
    ("39156-5", "L"): ("体重偏低，建议加强营养。", "Underweight: nutritional support.", ROUTINE),
    ("14771-0", "H"): ("空腹血糖升高，建议复查空腹血糖及糖化血红蛋白，内分泌科随诊。",
                       "Raised fasting glucose: repeat with HbA1c; endocrinology follow-up.", SOON),
    ("14749-6", "H"): ("血糖升高，建议复查空腹血糖及糖化血红蛋白，内分泌科随诊。",
                       "Raised glucose: repeat fasting glucose with HbA1c; endocrinology follow-up.", SOON),
    ("4548-4", "H"): ("糖化血红蛋白升高，建议内分泌科随诊。", "Raised HbA1c: endocrinology follow-up.", SOON),
    ("14647-2", "H"): ("总胆固醇升高，建议低脂饮食，3个月后复查血脂。",
                      "Raised total cholesterol: low-fat diet, repeat lipids in 3 months.", ROUTINE),
    ("14927-8", "H"): ("甘油三酯升高，建议低脂饮食，3个月后复查血脂。",
                      "Raised triglycerides: low-fat diet, repeat lipids in 3 months.", ROUTINE),
    ("1742-6", "H"): ("丙氨酸氨基转移酶升高，建议复查肝功能。", "Raised ALT: repeat liver function tests.", ROUTINE),
    ("1920-8", "H"): ("天门冬氨酸氨基转移酶升高，建议复查肝功能。", "Raised AST: repeat liver function tests.", ROUTINE),
    ("5196-1", "A"): ("乙肝表面抗原阳性，建议查乙肝病毒DNA及肝脏超声，肝病科随诊。",
                      "HBsAg positive: HBV DNA and liver ultrasound; hepatology follow-up.", SOON),
    ("718-7", "L"): ("血红蛋白偏低，建议查明贫血原因。", "Low haemoglobin: investigate the anaemia.", ROUTINE),
    ("14682-9", "H"): ("肌酐升高，建议复查肾功能。", "Raised creatinine: repeat renal function.", SOON),
}
GENERIC = {
    "H": ("结果偏高，建议复查。", "Above the reference range: recheck.", ROUTINE),
    "L": ("结果偏低，建议复查。", "Below the reference range: recheck.", ROUTINE),
    "A": ("结果异常，建议专科随诊。", "Abnormal: specialist follow-up.", ROUTINE),
    "C": ("危急值，请立即处理。", "Critical value: act now.", URGENT),
}


def direction(flag: str) -> str:
    return {"HH": "H", "H": "H", "LL": "L", "L": "L"}.get(flag, "A")


def advice_for(code: str, flag: str, lang: str) -> tuple[str, str]:
    """(advice text, urgency) for a flagged value."""
    if flag in ("HH", "LL", "AA"):
        zh, en, urgency = GENERIC["C"]
    else:
        zh, en, urgency = ADVICE.get((code, direction(flag))) or GENERIC[direction(flag)]
    return (en if lang == "en" else zh), urgency
