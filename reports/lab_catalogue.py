"""The lab tests of the synthetic exam data, in the shape the labs capability writes them.

Reference intervals for Chinese adults: WS/T 405-2012 (blood cell analysis) and WS/T 404
(clinical chemistry: 404.1 ALT/AST, 404.5 creatinine); fasting glucose 3.9-6.1
mmol/L and lipid targets per the Chinese adult dyslipidaemia guideline (2016). Critical limits
follow the common hospital 危急值 lists. Chemistry codes are the molar LOINC codes (SI units), as in the
labs catalogue: the [Mass/volume] codes (2160-0, 1558-6, 2093-3, 2571-8) mean mg/dL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabTest:
    loinc: str
    display: str
    zh: str
    unit: str
    low: float | None
    high: float | None
    low_female: float | None = None
    high_female: float | None = None
    critical_low: float | None = None
    critical_high: float | None = None
    decimals: int = 1

    def bounds(self, sex: str) -> tuple[float | None, float | None]:
        if sex == "female" and (self.low_female is not None or self.high_female is not None):
            return self.low_female, self.high_female
        return self.low, self.high


@dataclass(frozen=True)
class Panel:
    code: str  # LOINC panel code, or "" for a panel known by its text only
    display: str
    zh: str
    tests: tuple[LabTest, ...]


CBC = Panel("58410-2", "CBC panel - Blood by Automated count", "血常规", (
    LabTest("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "白细胞计数", "10*9/L", 3.5, 9.5,
            critical_low=1.5, critical_high=30.0),
    LabTest("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "红细胞计数", "10*12/L", 4.3, 5.8, 3.8, 5.1,
            decimals=2),
    LabTest("718-7", "Hemoglobin [Mass/volume] in Blood", "血红蛋白", "g/L", 130, 175, 115, 150, critical_low=60,
            decimals=0),
    LabTest("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "红细胞压积", "%", 40, 50, 35, 45),
    LabTest("777-3", "Platelets [#/volume] in Blood by Automated count", "血小板计数", "10*9/L", 125, 350,
            critical_low=30, decimals=0),
))
CHEMISTRY = Panel("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma", "生化检查", (
    LabTest("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "丙氨酸氨基转移酶",
            "U/L", 9, 50, 7, 40, decimals=0),
    LabTest("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "天门冬氨酸氨基转移酶", "U/L", 15, 40, 13, 35, decimals=0),
    LabTest("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "肌酐", "umol/L", 57, 97, 41, 73,
            critical_high=707, decimals=0),
    LabTest("14771-0", "Fasting glucose [Moles/volume] in Serum or Plasma", "空腹血糖", "mmol/L", 3.9, 6.1,
            critical_low=2.8, critical_high=22.2, decimals=2),
    LabTest("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", "总胆固醇", "mmol/L", None, 5.2, decimals=2),
    LabTest("14927-8", "Triglyceride [Moles/volume] in Serum or Plasma", "甘油三酯", "mmol/L", None, 1.7, decimals=2),
))
HBSAG = LabTest("5196-1", "Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay",
                "乙肝表面抗原", "", None, None)
SEROLOGY = Panel("", "Hepatitis B serology", "乙肝表面抗原检测", (HBSAG,))
PANELS = (CBC, CHEMISTRY, SEROLOGY)
TEST_BY_CODE = {t.loinc: t for p in PANELS for t in p.tests}


def flag(test: LabTest, value: float, sex: str) -> str:
    low, high = test.bounds(sex)
    if test.critical_low is not None and value < test.critical_low:
        return "LL"
    if test.critical_high is not None and value > test.critical_high:
        return "HH"
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N"
