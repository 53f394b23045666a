"""Identity at the point of care: the wristband code's check digits, the scan path with a QR
image decoded by the server, the typed fallback, failures audited, the photo kept outside the
Patient, and the ID card PDF read back (rendered with pdftoppm, its QR decoded with zxing-cpp)."""

from __future__ import annotations

import io
import random
import string
import subprocess

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from rounds import qr
from rounds.checkdigit import booking_of, check_digits, with_check
from tests.conftest import both_databases
from tests.rounds_support import audited, face_png
from tests.test_reports_archival import embedded

P1 = "fac-a-p1"


def test_check_digits_catch_every_single_error_and_digit_swap():
    """Every character replaced by another of its kind (digit for digit, letter for letter) and
    every swap of two neighbouring digits leaves a code that is refused."""
    rng = random.Random(19)
    for _ in range(300):
        booking = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(rng.randint(4, 14)))
        code = with_check(booking)
        assert booking_of(code) == booking and booking_of(code.lower()) == booking
        for i, ch in enumerate(code):
            for other in (string.digits if ch.isdigit() else string.ascii_uppercase):
                if other != ch:
                    assert booking_of(code[:i] + other + code[i + 1:]) is None, (code, i, other)
        for i in range(len(code) - 1):
            a, b = code[i], code[i + 1]
            if a != b and a.isdigit() and b.isdigit():
                assert booking_of(code[:i] + b + a + code[i + 2:]) is None, (code, i)


def test_known_value_and_what_is_refused():
    assert check_digits("KS202500012") == "49"  # ISO 7064 MOD 97-10, as an IBAN's
    assert booking_of("KS202500012 49") == "KS202500012"
    for bad in ("", "49", "KS202500012", "KS20250001248", "KS2025000124X"):
        assert booking_of(bad) is None


def test_only_letters_and_digits_count():
    """Dashes and other marks in a booking number are skipped, both ways; check "digits" that
    are letters and a booking number of marks alone are refused even where the sum would pass."""
    assert check_digits("ks-2025/00012") == check_digits("KS202500012") == "49"
    assert booking_of("KS-2025-00012 49") == "KS-2025-00012"
    assert booking_of("KS202500012AI") is None  # 'AI' would satisfy MOD 97-10, but is not two digits
    assert booking_of("--01") is None and booking_of("-01") is None  # the sum of nothing and 01 is 1


@both_databases
async def test_scan_path_decodes_the_qr_on_the_server(client, login, context, world):
    doctor = await login("doc-a")
    png = qr.png(with_check("fac-a-1"))
    response = await client.post("/api/rounds/decode", data=png, headers={**doctor, "Content-Type": "image/png"})
    assert response.status == 200, await response.text()
    found = await response.json()
    assert (found["patient_id"], found["booking_number"], found["name"]) == (P1, "fac-a-1", "王小明")
    assert found["page"] == "/rounds/patient/fac-a-1"  # the page to open, by booking number
    assert found["birth_date"] == "1980-05-01"
    assert [(e.outcome, e.reason, e.patient_id) for e in audited(context, "rounds.identify")] == [("allowed", "scanned", P1)]

    # a frame with no code, and a code of another facility's detainee: failed, audited, nothing shown
    blank = io.BytesIO()
    Image.new("L", (320, 240), 255).save(blank, format="PNG")
    response = await client.post("/api/rounds/decode", data=blank.getvalue(), headers={**doctor, "Content-Type": "image/png"})
    assert response.status == 422
    other = qr.png(with_check("fac-b-1"))
    response = await client.post("/api/rounds/decode", data=other, headers={**doctor, "Content-Type": "image/png"})
    assert response.status == 404
    assert "fac-b" not in await response.text()
    failed = [e for e in audited(context, "rounds.identify") if e.outcome == "denied"]
    assert [e.reason.split(":")[0] for e in failed] == ["failed (scanned)", "failed (scanned)"]


async def test_typed_code_needs_its_check_digits(client, login, context, world):
    doctor = await login("doc-a")
    typed = with_check("fac-a-2")
    response = await client.post("/api/rounds/identify", headers=doctor, json={"code": typed, "method": "typed"})
    assert response.status == 200
    assert (await response.json())["patient_id"] == "fac-a-p2"
    for wrong in ("fac-a-2", typed[:-1] + str((int(typed[-1]) + 1) % 10)):
        response = await client.post("/api/rounds/identify", headers=doctor, json={"code": wrong, "method": "typed"})
        assert response.status == 404
    response = await client.post("/api/rounds/identify", headers=doctor, json={"code": typed, "method": "guessed"})
    assert response.status == 400
    trail = [(e.outcome, e.reason.split(":")[0]) for e in audited(context, "rounds.identify")]
    assert trail == [("allowed", "typed"), ("denied", "failed (typed)"), ("denied", "failed (typed)")]
    response = await client.post("/api/rounds/identify", headers=await login("spec-1"),
                                 json={"code": typed, "method": "typed"})
    assert response.status == 403


@both_databases
async def test_photo_is_kept_apart_and_only_staff_of_the_facility_see_it(client, login, world):
    doctor = await login("doc-a")
    response = await client.post(f"/api/rounds/photo/{P1}", data=face_png(), headers={**doctor, "Content-Type": "image/png"})
    assert response.status == 201, await response.text()
    patient = await (await client.get(f"/fhir/Patient/{P1}", headers=doctor)).json()
    [photo] = patient["photo"]
    assert photo["url"] == f"/api/rounds/photo/{P1}" and "data" not in photo and photo["contentType"] == "image/jpeg"
    response = await client.get(photo["url"], headers=doctor)
    assert response.status == 200 and response.content_type == "image/jpeg"
    kept = Image.open(io.BytesIO(await response.read()))
    assert max(kept.size) <= 640 and photo["size"] == len(await response.read())
    assert (await client.get(photo["url"], headers=await login("doc-b"))).status == 403
    assert (await client.post(f"/api/rounds/photo/{P1}", data=face_png(),
                              headers={**await login("doc-b"), "Content-Type": "image/png"})).status == 403
    response = await client.post(f"/api/rounds/photo/{P1}", data=b"not an image",
                                 headers={**doctor, "Content-Type": "image/png"})
    assert response.status == 422


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_id_card_pdf_reads_back(client, login, world, tmp_path, lang):
    doctor = await login("doc-a")
    await client.post(f"/api/rounds/photo/{P1}", data=face_png(), headers={**doctor, "Content-Type": "image/png"})
    response = await client.get(f"/rounds/card/fac-a-1.pdf?lang={lang}", headers=doctor)
    assert response.status == 200 and response.content_type == "application/pdf"
    pdf = tmp_path / "card.pdf"
    pdf.write_bytes(await response.read())
    subprocess.run(["pdftoppm", "-r", "300", "-png", str(pdf), str(tmp_path / "page")], check=True)
    [page] = sorted(tmp_path.glob("page*.png"))
    codes = [b.text for b in zxingcpp.read_barcodes(Image.open(page))]
    assert codes == [with_check("fac-a-1")]
    reader = PdfReader(pdf)
    text = reader.pages[0].extract_text()
    assert "王小明" in text and "fac-a-1" in text
    fonts = embedded(pdf)
    assert fonts and all(is_embedded for _name, is_embedded in fonts), fonts
    assert (await client.get("/rounds/card/fac-a-1.pdf", headers=await login("doc-b"))).status == 403
