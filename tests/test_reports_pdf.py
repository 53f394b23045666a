"""The per-detainee PDF, read back with pdftotext: content, flags, page numbers, page breaks."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from ehr import store
from reports import exam_data, pdf
from reports.exam_fhir import Author
from reports.exams import enter_section
from tests.reports_support import WHEN, add_labs, exam_id, full_exam, open_campaign

TZ = ZoneInfo("Asia/Shanghai")
LAB_HEADER = re.compile(r"项目\s+结果\s+提示\s+单位\s+参考区间")
LAB_ROW = re.compile(r"^\s*长项目\d\d\s+\d+\s+(↑\s+)?U/L")


def pages_text(content: bytes) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True).stdout
    return text.decode().split("\f")[:-1]


@pytest.fixture
def exam(context, world):
    """fac-a-p1's complete exam with labs: raised glucose, low haemoglobin, HBsAg positive."""
    author = Author(world.users["doc-a"], "王医生")

    def scenario(session):
        cid = open_campaign(session, "fac-a", world.users["officer-a"], cohort_date="2026-02-01")
        eid = exam_id(session, cid, "fac-a-p1")
        full_exam(session, eid, author)
        add_labs(session, "fac-a-p1", {"14771-0": 7.8, "718-7": 112, "5196-1": 1})
        return eid

    return context.db.call(scenario)


def render(context, eid: int, lang: str = "zh-CN") -> tuple[bytes, int]:
    return pdf.render(context.db.call(exam_data.load, eid, lang, TZ))


def test_report_content_flags_and_page_numbers(context, exam):
    content, pages = render(context, exam)
    texts = pages_text(content)
    assert len(texts) == pages == len(PdfReader(io.BytesIO(content)).pages) >= 2
    whole = "\n".join(texts)
    for expected in ("甲看守所", "健康体检报告", "王小明", "fac-a-1", "总检结论", "一般检查", "口腔科", "龋齿2颗",
                     "血常规", "生化检查", "低盐低脂饮食", "检查医生: 王医生", "主检医生: doc-a", "2026-03-10"):
        assert expected in whole, expected
    # the summary at the front lists each abnormal value with its arrow and advice
    front = texts[0]
    assert re.search(r"血压\s+152/96 mmHg ↑", front)
    assert re.search(r"空腹血糖\s+7\.8 mmol/L ↑", whole)
    assert re.search(r"血红蛋白\s+112 g/L ↓", whole)
    assert re.search(r"乙肝表面抗原\s+阳性 \*", whole)
    # lab table rows: result, then the arrow in the flag column
    assert re.search(r"空腹血糖\s+7\.8\s+↑\s+mmol/L\s+3\.9–6\.1", whole)
    assert re.search(r"肌酐\s+\d+\s+µmol/L", whole)  # a normal value has no flag
    assert re.search(r"白细胞计数\s+[\d.]+\s+×10⁹/L", whole)  # units as people write them (telemed.display)
    for number, text in enumerate(texts, 1):
        assert re.search(rf"第\s*{number}\s*/\s*{pages}\s*页", text), number
        assert "本报告仅供监管场所医疗使用" in text
    # flagged values are drawn bold (fill + stroke text render mode), not only with a colour
    streams = b"".join(page.get_contents().get_data() for page in PdfReader(io.BytesIO(content)).pages)
    assert b"2 Tr" in streams


def test_font_is_embedded_and_output_reproducible(context, exam, tmp_path):
    first, _ = render(context, exam)
    second, _ = render(context, exam)
    assert first == second
    path = Path(tmp_path / "report.pdf")
    path.write_bytes(first)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True).stdout.decode().splitlines()
    cjk = [line.split() for line in fonts if "WenQuanYiZenHei" in line]
    assert cjk and all(row[-5:-3] == ["yes", "yes"] for row in cjk)  # embedded, subset


def test_english_on_request(context, exam):
    content, pages = render(context, exam, "en")
    whole = "\n".join(pages_text(content))
    assert "Health check report" in whole and "Summary of abnormal findings" in whole
    assert re.search(rf"Page 1 / {pages}", whole)
    assert "Fasting glucose" in whole and "7.8 mmol/L ↑" in whole


def test_a_long_lab_table_never_leaves_a_row_without_its_header(context, world, exam):
    def long_panel(session):
        ids = []
        for n in range(90):
            obs = {"resourceType": "Observation", "status": "final",
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                             "code": "laboratory"}]}],
                   "code": {"text": f"长项目{n:02d}"}, "subject": {"reference": "Patient/fac-a-p1"},
                   "effectiveDateTime": "2026-03-10T02:30:00Z",
                   "valueQuantity": {"value": 200 if n % 7 == 0 else 5, "unit": "U/L",
                                     "system": "http://unitsofmeasure.org", "code": "U/L"},
                   "referenceRange": [{"low": {"value": 1}, "high": {"value": 10}}],
                   "interpretation": [{"coding": [{"code": "H" if n % 7 == 0 else "N"}]}]}
            ids.append(store.create(session, obs).id)
        store.create(session, {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "超长检验组"},
                               "subject": {"reference": "Patient/fac-a-p1"}, "effectiveDateTime": "2026-03-10T03:00:00Z",
                               "result": [{"reference": f"Observation/{i}"} for i in ids]})

    context.db.call(long_panel)
    content, pages = render(context, exam)
    spanned = 0
    for text in pages_text(content):
        lines = text.splitlines()
        rows = [i for i, line in enumerate(lines) if LAB_ROW.match(line)]  # not the summary's rows
        if not rows:
            continue
        spanned += 1
        headers = [i for i, line in enumerate(lines) if LAB_HEADER.search(line)]
        assert headers and min(headers) < rows[0], "a lab row sits on a page above any table header"
    assert spanned >= 2  # the panel really was split across pages


def test_empty_sections_and_no_labs(context, world):
    author = Author(world.users["doc-a"], "王医生")

    def scenario(session):
        cid = open_campaign(session, "fac-a", world.users["officer-a"], cohort_date="2026-02-01")
        eid = exam_id(session, cid, "fac-a-p3")
        enter_section(session, eid, "conclusion", {"conclusion": "未见异常"}, author, when=WHEN)
        return eid

    eid = context.db.call(scenario)
    whole = "\n".join(pages_text(render(context, eid)[0]))
    assert "本次体检无实验室检查结果" in whole and "本次体检无分科检查记录" in whole
    assert "本次体检未见明显异常" in whole


async def test_single_report_over_http_for_the_officer_only(client, login, exam):
    url = f"/api/exams/{exam}/report.pdf?lang=en"
    response = await client.get(url, headers=await login("officer-a"))
    assert response.status == 200 and response.content_type == "application/pdf"
    assert "Health check report" in "".join(pages_text(await response.read()))
    for user in ("doc-a", "officer-b", "spec-1", "admin"):
        assert (await client.get(url, headers=await login(user))).status == 403, user


def test_a_font_without_the_glyphs_is_refused(monkeypatch, tmp_path):
    import reports.fonts as fonts_module

    latin = next((p for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",) if Path(p).is_file()), None)
    if latin is None:
        pytest.skip("no Latin-only TrueType font installed to try")
    monkeypatch.setattr(fonts_module, "CJK", "LatinOnly")
    monkeypatch.setattr(fonts_module, "CANDIDATES", (Path(latin),))
    with pytest.raises(fonts_module.FontMissing, match="体"):
        fonts_module.register()


def test_labs_are_those_of_the_campaign_period_in_facility_time(context, exam):
    def lab(name: str, when: str) -> dict:
        return {"resourceType": "Observation", "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": "laboratory"}]}],
                "code": {"text": name}, "subject": {"reference": "Patient/fac-a-p1"}, "effectiveDateTime": when,
                "valueString": "阴性"}

    def scenario(session):
        store.create(session, lab("早晨采血项目", "2026-02-28T23:30:00Z"))  # 07:30 on 1 March in Shanghai
        store.create(session, lab("上次体检项目", "2026-02-27T02:00:00Z"))

    context.db.call(scenario)
    whole = "\n".join(pages_text(render(context, exam)[0]))
    assert "早晨采血项目" in whole and "上次体检项目" not in whole
