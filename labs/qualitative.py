"""Qualitative results as first-class values: the words and signs labs write, mapped to grades."""

from __future__ import annotations

from labs.catalog import Test

_SYNONYMS = {
    "neg": "neg", "negative": "neg", "-": "neg", "阴性": "neg", "阴性(-)": "neg", "non-reactive": "neg",
    "nonreactive": "neg", "未见": "neg", "未检出": "neg", "normal": "neg", "正常": "neg",
    "pos": "pos", "positive": "pos", "阳性": "pos", "阳性(+)": "pos", "reactive": "pos", "检出": "pos", "见到": "pos",
    "±": "±", "+-": "±", "+/-": "±", "trace": "±", "弱阳性": "±",
    "+": "1+", "+1": "1+", "1+": "1+", "++": "2+", "+2": "2+", "2+": "2+", "+++": "3+", "+3": "3+", "3+": "3+",
    "++++": "4+", "+4": "4+", "4+": "4+",
    "无色": "colourless", "colorless": "colourless", "淡黄色": "pale yellow", "浅黄色": "pale yellow",
    "黄色": "yellow", "琥珀色": "amber", "橙色": "orange", "红色": "red", "褐色": "brown", "棕色": "brown",
    "绿色": "green", "黑色": "black", "陶土色": "clay", "灰白色": "clay",
    "清": "clear", "清亮": "clear", "透明": "clear", "微浑": "slightly cloudy", "浑浊": "cloudy", "混浊": "turbid",
    "成形": "formed", "软": "soft", "软便": "soft", "糊状": "mushy", "水样": "watery", "黏液": "mucoid", "血便": "bloody",
}
_POSITIVE_GRADES = {"±", "1+", "2+", "3+", "4+"}
LABELS_ZH = {"neg": "阴性(-)", "pos": "阳性(+)"}
LABELS_EN = {"neg": "negative", "pos": "positive"}



def parse(test: Test, text: str) -> str:
    """The catalogue value that ``text`` means for ``test``; raises ValueError when it means none."""
    raw = str(text).strip()
    code = _SYNONYMS.get(raw.lower(), raw.lower())
    if code not in test.values and code in _POSITIVE_GRADES and "pos" in test.values:
        code = "pos"  # a graded reading on a negative/positive test
    if code not in test.values:
        raise ValueError(f"{raw!r} is not a result of {test.abbr} ({test.loinc}); expected one of {'|'.join(test.values)}")
    return code


def rank(test: Test, code: str) -> int:
    return test.values.index(code)


def label(code: str, lang: str) -> str:
    return (LABELS_EN if lang == "en" else LABELS_ZH).get(code, code)
