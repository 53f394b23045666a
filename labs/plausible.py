"""Physiological plausibility: a value no living person (or working analyzer) produces is held
for a person to review, never filed, flagged or alerted (1e308 mmol/L of potassium is a
transmission or typing error, not a critical result).

The ceilings are multiples of the test's largest catalogue limit (upper reference limit or
critical high), per analyte class, each leaving room above the highest values reported in
survivors or an analyzer's diluted measuring range:

* every class: finite, and not negative (every catalogue quantity is a concentration, count,
  activity, time, fraction or ratio);
* fractions (unit %: differential, HCT, HbA1c): at most 100, a part of a whole;
* pH: at most 14, the scale's end;
* electrolytes and minerals (K, Na, Cl, Ca, P, Mg, TCO2): 5 x the largest limit. Their
  concentrations are held in a narrow band, and values several times the critical limits are
  not survivable; the factor keeps in-vitro haemolysis (potassium 10-15 mmol/L, 2.5 x its
  critical high) and the phosphate of end-stage renal failure (5-6 mmol/L, 4 x its upper
  limit) inside;
* disease markers measured by immunoassay (cardiac, tumour, thyroid panels and hCG):
  100,000 x the upper reference limit. They span five orders of magnitude: AFP, hCG and
  CA 19-9 reach 10^4-10^5 x their upper limits after dilution;
* everything else (blood counts, enzymes, proteins, metabolites, coagulation times): 1,000 x
  the largest limit. The widest excursions (CK in rhabdomyolysis ~300 x, ALT in acute liver
  necrosis ~200 x, WBC in leukaemia ~100 x) stay well inside.
"""

from __future__ import annotations

import math

from labs.catalog import Test
from labs.values import Reading

NARROW_PANELS = frozenset({"electrolytes"})
NARROW_FACTOR = 5
MARKER_PANELS = frozenset({"cardiac", "tumour", "thyroid", "pregnancy"})
MARKER_FACTOR = 100_000
DEFAULT_FACTOR = 1_000
SCALE_ENDS = {"%": 100.0, "[pH]": 14.0}


def ceiling(test: Test) -> float | None:
    """The highest plausible value of ``test`` in its catalogue unit; None: no limit to scale."""
    if test.unit in SCALE_ENDS:
        return SCALE_ENDS[test.unit]
    limits = [b.high for bands in test.ranges.values() for b in bands or () if b.high is not None]
    limits += [b.low for bands in test.ranges.values() for b in bands or () if b.low is not None]
    limits += [test.crit_high] if test.crit_high is not None else []
    if not limits or max(limits) <= 0:
        return None
    factor = NARROW_FACTOR if test.panel in NARROW_PANELS else MARKER_FACTOR if test.panel in MARKER_PANELS \
        else DEFAULT_FACTOR
    return factor * max(limits)


def implausible(test: Test, reading: Reading) -> str:
    """Why ``reading`` cannot be a real result of ``test`` (in its catalogue unit), or ''."""
    numbers = reading.numbers()
    if not all(math.isfinite(v) for v in numbers):
        return "not a finite number"
    if any(v < 0 for v in numbers):
        return "negative"
    top = ceiling(test)
    if top is not None and reading.kind != "ratio" and max(numbers) > top:
        return f"above the plausible maximum {top:g} {test.unit}".rstrip()
    return ""
