"""HL7 ORU^R01 over a real MLLP socket: ACK/NAK content, Mindray fractions, held messages."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from labs.models import HeldMessage, LabResult
from tests.conftest import both_databases
from tests.labs_support import msa, oru, register_analyzer, send_mllp


@pytest.fixture
def listener(context, mllp_port):
    for application in ("BC-5380", "LIS", "检验系统"):
        context.db.call(register_analyzer, application, "fac-a")
    return mllp_port


def results(context) -> dict[str, LabResult]:
    return {r.loinc: r for r in context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())}


def held(context) -> list[HeldMessage]:
    return context.db.call(lambda s: s.execute(select(HeldMessage)).scalars().all())



@both_databases
async def test_mindray_message_is_filed_with_fractions_scaled(context, listener):
    message = oru("fac-a-1", [
        ("NM", "6690-2^WBC^LN", "6.52", "10*9/L"),
        ("NM", "4544-3^HCT^LN", "0.405", "%"),
        ("NM", "770-8^NEU%^LN", "0.612", "%"),
        ("NM", "718-7^HGB^LN", "45", "g/L"),
        ("ED", "15001^WBC Histogram. BMP^99MRC", "^Image^BMP^Base64^Qk02AAAAAAAAADYAAAAoAAAA", ""),
    ], control="C100")
    answer = await send_mllp(listener, message)
    assert msa(answer)[1:3] == ["AA", "C100"]
    assert "ACK^R01" in answer
    filed = results(context)
    assert filed["4544-3"].value_num == pytest.approx(40.5) and filed["4544-3"].flag == "N"
    assert filed["770-8"].value_num == pytest.approx(61.2)
    assert filed["718-7"].flag == "LL" and filed["6690-2"].source == "hl7"
    again = await send_mllp(listener, message)  # an analyzer re-sends when an ACK is late
    assert msa(again)[1] == "AA" and "duplicates 4" in msa(again)[3]
    assert len(results(context)) == 4


async def test_unknown_codes_are_held_and_the_rest_filed(context, listener):
    answer = await send_mllp(listener, oru("fac-a-1", [
        ("NM", "2823-3^K^LN", "4.1", "mmol/L"),
        ("NM", "99999^XYZ^99MRC", "12", ""),
    ], control="C101", sender="LIS^Generic"))
    code, control, text = msa(answer)[1:4]
    assert (code, control) == ("AE", "C101")
    assert "unknown test code" in text and "held for review" in text and "filed 1" in text
    assert "ERR|" in answer
    assert set(results(context)) == {"2823-3"}
    [kept] = held(context)
    assert "99999" in kept.reason and "OBX|2|NM|99999" in kept.content and kept.facility_id == "fac-a"


async def test_unknown_detainee_is_held(context, listener):
    message = oru("NOBODY-7", [("NM", "2823-3^K^LN", "4.1", "mmol/L")], control="C102")
    answer = await send_mllp(listener, message)
    assert msa(answer)[1] == "AE" and "unknown detainee NOBODY-7" in msa(answer)[3]
    assert results(context) == {}
    [kept] = held(context)
    assert kept.channel == "hl7" and kept.content.startswith("MSH|")
    other_facility = await send_mllp(listener, oru("fac-b-1", [("NM", "2823-3^K^LN", "4.1", "mmol/L")],
                                                   control="C103"))
    assert msa(other_facility)[1] == "AE" and len(held(context)) == 2 and results(context) == {}


async def test_bad_values_and_malformed_messages(context, listener):
    answer = await send_mllp(listener, oru("fac-a-1", [("NM", "2823-3^K^LN", "high", "mmol/L"),
                                                       ("NM", "2951-2^Na^LN", "140", "g/L")], control="C104"))
    code, _, text = msa(answer)[1:4]
    assert code == "AE" and "not a number" in text and "not accepted" in text
    wrong_type = await send_mllp(listener, "MSH|^~\\&|LIS|LAB|TELEMED||20260301||ADT^A01|C105|P|2.3.1\rPID|1||fac-a-1")
    assert msa(wrong_type)[1:3] == ["AR", "C105"] and r"ADT\S\A01" in msa(wrong_type)[3]  # "^" escaped
    garbage = await send_mllp(listener, "this is not HL7")
    assert msa(garbage)[1] == "AR" and "nothing filed" in msa(garbage)[3]  # no sender named: refused
    no_pid = await send_mllp(listener, "MSH|^~\\&|LIS|LAB|B||20260301||ORU^R01|C106|P|2.3.1\rOBR|1")
    assert msa(no_pid)[1] == "AR" and "PID" in msa(no_pid)[3]
    assert results(context) == {}


async def test_gb18030_message_from_a_chinese_lis(context, listener):
    from hl7.mllp import open_hl7_connection

    message = oru("fac-a-1", [("NM", "2823-3^钾^LN", "3.2", "mmol/L")], control="GB1", sender="检验系统")
    reader, writer = await open_hl7_connection("127.0.0.1", listener)
    writer.writeblock(message.encode("gb18030"))
    await writer.drain()
    answer = (await asyncio.wait_for(reader.readblock(), 5)).decode("utf-8")
    writer.close()
    assert msa(answer)[1:3] == ["AA", "GB1"]
    assert answer.split("\r")[0].split("|")[4] == "检验系统"  # the sender, read back correctly, is addressed
    assert results(context)["2823-3"].flag == "L"


def test_hl7_timestamps():
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from labs.hl7 import _time

    shanghai = ZoneInfo("Asia/Shanghai")
    assert _time("20260301080000", shanghai) == datetime(2026, 3, 1, 0, tzinfo=timezone.utc)
    assert _time("202603010800-0500", shanghai) == datetime(2026, 3, 1, 13, tzinfo=timezone.utc)
    assert _time("20260301", shanghai) == datetime(2026, 2, 28, 16, tzinfo=timezone.utc)
    assert _time("20260301080000.123+0800", shanghai) == datetime(2026, 3, 1, 0, tzinfo=timezone.utc)
    assert _time("yesterday", shanghai) is None and _time("2026", shanghai) is None


async def test_one_connection_many_messages(context, listener):
    from hl7.mllp import open_hl7_connection

    reader, writer = await open_hl7_connection("127.0.0.1", listener, encoding="utf-8")
    for n in range(3):
        writer.writeblock(oru("fac-a-1", [("NM", "2823-3^K^LN", f"4.{n}", "mmol/L")], control=f"M{n}",
                              when=f"2026030108{n:02d}00").encode())
        await writer.drain()
        assert msa((await asyncio.wait_for(reader.readblock(), 5)).decode())[1:3] == ["AA", f"M{n}"]
    writer.close()
    assert len(context.db.call(lambda s: s.execute(select(LabResult)).scalars().all())) == 3


async def test_held_messages_listed_and_resolved_per_facility(client, login, context, listener):
    await send_mllp(listener, oru("NOBODY-9", [("NM", "2823-3^K^LN", "4.1", "mmol/L")], control="C200"))
    doc_a, doc_b = await login("doc-a"), await login("doc-b")
    [item] = await (await client.get("/api/labs/held", headers=doc_a)).json()
    assert "NOBODY-9" in item["reason"] and "OBX|1|NM|2823-3" in item["content"]
    assert await (await client.get("/api/labs/held", headers=doc_b)).json() == []
    assert (await client.post(f"/api/labs/held/{item['id']}/resolve", headers=doc_b)).status == 404
    assert (await client.get("/api/labs/held", headers=await login("spec-1"))).status == 403
    resolved = await (await client.post(f"/api/labs/held/{item['id']}/resolve", headers=doc_a)).json()
    assert resolved["resolved_at"]
    assert await (await client.get("/api/labs/held", headers=doc_a)).json() == []


async def test_held_message_filed_once_the_detainee_is_known(client, login, context, listener):
    from tests.conftest import make_patient

    await send_mllp(listener, oru("LATE-1", [("NM", "2823-3^K^LN", "7.1", "mmol/L")], control="C300"))
    doc_a = await login("doc-a")
    [item] = await (await client.get("/api/labs/held", headers=doc_a)).json()
    context.db.call(make_patient, "fac-a", "LATE-1", resource_id="late-1")
    assert (await client.post(f"/api/labs/held/{item['id']}/retry", headers=await login("doc-b"))).status == 404
    outcome = await (await client.post(f"/api/labs/held/{item['id']}/retry", headers=doc_a)).json()
    assert outcome["code"] == "AA"
    assert results(context)["2823-3"].patient_id == "late-1" and results(context)["2823-3"].flag == "HH"
    assert await (await client.get("/api/labs/held", headers=doc_a)).json() == []
    assert (await client.post(f"/api/labs/held/{item['id']}/retry", headers=doc_a)).status == 404  # done


def test_listen_command_answers_over_a_real_socket(context, world, settings, unused_tcp_port):
    """`telemed labs listen` as its own process, on loopback by default, for an analyzer
    registered with `telemed labs analyzer add`."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TELEMED_DATABASE_URL": settings.database_url, "TELEMED_DATA_DIR": str(settings.data_dir),
           "TELEMED_SECRET_KEY": settings.secret_key, "TELEMED_MLLP_PORT": str(unused_tcp_port)}
    added = subprocess.run([sys.executable, "-m", "telemed.cli", "labs", "analyzer", "add", "Chemistry 1",
                            "--facility", "fac-a", "--application", "LIS", "--sending-facility", "LAB",
                            "--address", "127.0.0.1"], env=env, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    listener = subprocess.Popen([sys.executable, "-m", "telemed.cli", "labs", "listen"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert f"on 127.0.0.1:{unused_tcp_port}" in listener.stdout.readline()
        answer = asyncio.run(send_mllp(unused_tcp_port, oru("fac-a-2", [("NM", "718-7^HGB^LN", "121", "g/L")],
                                                            control="P1", sender="LIS")))
        assert msa(answer)[1:3] == ["AA", "P1"]
        assert results(context)["718-7"].patient_id == "fac-a-p2"
    finally:
        listener.terminate()
        listener.wait(timeout=10)
