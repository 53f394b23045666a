"""Controlled medicines: a dose needs a second witness and comes off a count.

The names are the commonly prescribed entries of the US DEA schedules II-IV (21 CFR 1308.12-14)
and of China's 麻醉药品和精神药品品种目录 (2013 edition), matched in a prescription's drug text.
"""

from __future__ import annotations

NAMES = (
    "morphine", "吗啡", "oxycodone", "羟考酮", "methadone", "美沙酮", "buprenorphine", "丁丙诺啡",
    "fentanyl", "芬太尼", "codeine", "可待因", "tramadol", "曲马多", "pethidine", "哌替啶",
    "diazepam", "地西泮", "lorazepam", "劳拉西泮", "alprazolam", "阿普唑仑", "clonazepam", "氯硝西泮",
    "estazolam", "艾司唑仑", "midazolam", "咪达唑仑", "zolpidem", "唑吡坦", "phenobarbital", "苯巴比妥",
)


def is_controlled(medicine: str) -> bool:
    text = medicine.lower()
    return any(name in text for name in NAMES)
