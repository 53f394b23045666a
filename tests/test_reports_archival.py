"""Report PDFs as archived records: every font embedded (the Latin one included), the asked
language only (Chinese in an English report is data: names and free text), chart labels inside
the page. Read back with pdffonts and pdftotext, as an archive would."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from reports.batch import run_batch
from reports.exam_data import QUALITATIVE
from reports.lab_catalogue import PANELS
from reports.synthetic import seed_campaign
from telemed.i18n import messages
from tests.browser_support import CODE_LIKE, Data, wrong_words
from tests.data_words import data_han_runs, names_and_labels

HAN = re.compile(r"[\u3400-\u9fff]+")


@pytest.fixture
def batches(context, settings, world, monkeypatch) -> dict[str, Path]:
    monkeypatch.setenv("TELEMED_I18N_STRICT", "1")  # an untranslated key prints as ⟦key⟧
    campaign = seed_campaign(context.db, "fac-a", 8, seed=11, refused=0.15, pending=0.1)
    folders = {lang: run_batch(settings, campaign, lang=lang, workers=1).out_dir for lang in ("zh-CN", "en")}
    for folder in folders.values():
        with zipfile.ZipFile(folder / "reports.zip") as archive:
            archive.extractall(folder / "single")
    return folders


def embedded(path: Path) -> list[tuple[str, bool]]:
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout.splitlines()[2:]
    return [(line.split()[0], line.split()[-5] == "yes") for line in lines]


def text_of(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout


def pdfs(folder: Path) -> list[Path]:
    """The cohort summary and each detainee's report."""
    singles = sorted((folder / "single").glob("*.pdf"))
    assert singles
    return [folder / "summary.pdf", *singles]


def test_every_font_is_embedded_in_both_languages(batches):
    for lang, folder in batches.items():
        for path in pdfs(folder):
            fonts = embedded(path)
            assert fonts and all(emb for _name, emb in fonts), (lang, path.name, fonts)
            assert not any("Helvetica" in name for name, _emb in fonts)
        english = {name.split("+")[-1] for name, _emb in embedded(batches["en"] / "summary.pdf")}
        assert "DejaVuSans" in english, english


def test_english_reports_have_no_chinese_headings_and_both_read_back(context, batches):
    data = data_han_runs(context.db)
    # The Chinese words of the reports' own labels, as whole runs (inside free text they are data).
    chinese_ui = {run for key, text in messages("zh-CN").items() if key.startswith("reports.")
                  for run in HAN.findall(text)} - data
    # Coded things (panels, tests, qualitative results) have English names: their Chinese ones are no data.
    coded = {p.zh for p in PANELS} | {t.zh for p in PANELS for t in p.tests} | {w for w in QUALITATIVE if HAN.match(w)}
    for path in pdfs(batches["en"]):
        text = text_of(path)
        assert "Health check report" in text or "Cohort summary" in text, path.name
        runs = set(HAN.findall(text))
        assert not runs & (chinese_ui | coded), (path.name, runs & (chinese_ui | coded))
        strays = {run for run in runs if not any(run in d for d in data)}
        assert not strays, (path.name, strays)
    zh = messages("zh-CN")
    chinese = "".join(text_of(p) for p in pdfs(batches["zh-CN"]))
    assert zh["reports.title"] in chinese and zh["reports.summary.title"] in chinese
    assert "Cohort summary" in text_of(batches["en"] / "summary.pdf")


def test_chart_labels_stay_inside_the_page(batches):
    for lang, folder in batches.items():
        html = subprocess.run(["pdftotext", "-bbox", str(folder / "summary.pdf"), "-"], capture_output=True,
                              check=True, text=True).stdout
        for page in re.finditer(r'<page width="([\d.]+)" height="[\d.]+">(.*?)</page>', html, re.S):
            width = float(page.group(1))
            for x_min, x_max, word in re.findall(r'<word xMin="([-\d.]+)" yMin="[-\d.]+" xMax="([-\d.]+)"'
                                                 r' yMax="[-\d.]+">([^<]*)</word>', page.group(2)):
                assert 0 <= float(x_min) and float(x_max) <= width, (lang, word, x_min, x_max)


def test_no_untranslated_key_raw_value_or_wrong_script_in_either_language(context, settings, batches):
    names, latin, exact = names_and_labels(settings.database_url)
    data = Data(han=data_han_runs(context.db), latin=latin, names=names, exact=exact)
    for lang, folder in batches.items():
        for path in pdfs(folder):
            text = text_of(path)
            assert "⟦" not in text, (lang, path.name)
            assert not CODE_LIKE.search(text), (lang, path.name, CODE_LIKE.search(text))
            assert not wrong_words(text, lang, data), (lang, path.name, wrong_words(text, lang, data))
