"""Every kind of held analyzer message, read back in each language: the reason a person meets in
the review queue is in their words, with no English sentence left in the Chinese one (the
wrong-script check of the page test)."""

from __future__ import annotations

import pytest

from labs.held import list_held
from tests.browser_support import Data, wrong_words
from tests.labs_support import oru, register_analyzer, send_mllp

# (booking, observations): one message per kind of reason labs.hl7 holds for
HELD_KINDS = {
    "unknown detainee": ("NOBODY-7", [("NM", "2823-3^K^LN", "4.1", "mmol/L")]),
    "unknown test code": ("fac-a-1", [("NM", "99999^XYZ^99MRC", "12", "")]),
    "not a finite number": ("fac-a-1", [("NM", "2823-3^K^LN", "1e999", "mmol/L")]),
    "negative": ("fac-a-1", [("NM", "2823-3^K^LN", "-4.1", "mmol/L")]),
    "above the plausible maximum": ("fac-a-1", [("NM", "718-7^HGB^LN", "9999999", "g/L")]),
    "two reasons at once": ("fac-a-1", [("NM", "99999^XYZ^99MRC", "12", ""), ("NM", "2823-3^K^LN", "-1", "mmol/L"),
                                        ("NM", "2951-2^Na^LN", "140", "mmol/L")]),
}
# What the message itself carries (booking numbers, the analyzer's codes, values as sent) is data.
DATA = Data(han=set(), latin={"NOBODY", "XYZ", "e999"}, names=[], exact=set())


@pytest.fixture
def listener(context, mllp_port):
    context.db.call(register_analyzer, "BC-5380", "fac-a")
    return mllp_port


async def test_every_held_reason_is_told_in_the_readers_language(context, listener):
    for n, (booking, observations) in enumerate(HELD_KINDS.values()):
        await send_mllp(listener, oru(booking, observations, control=f"H{n}"))
    chinese = context.db.call(list_held, "fac-a", "zh-CN")
    english = context.db.call(list_held, "fac-a", "en")
    assert len(chinese) == len(english) == len(HELD_KINDS), "\n".join(i["reason"] for i in english)
    for item in chinese:
        assert item["reason_text"] != item["reason"]
        assert not wrong_words(item["reason_text"], "zh-CN", DATA), (item["reason"], item["reason_text"])
    for item in english:
        assert item["reason_text"] != item["reason"]  # told as a sentence, not the ACK's shorthand
    assert sum("other results were filed" in item["reason_text"] for item in english) == 1  # only the last
    told = " ".join(item["reason_text"] for item in english)
    assert "-4.1" in told and "9999999" in told and "g/L" in told and "1e999" in told
