"""One detainee's exam report as a PDF (reportlab platypus).

Layout of a Chinese health-check report: identifiers, the numbered summary of abnormal
findings (总检结论) first, then vitals, each department, one lab table per panel
(项目 | 结果 | 提示 | 单位 | 参考区间), the conclusion, the doctors and the date. Out-of-range values
carry an arrow and bold type (the fonts are used without a bold face, so the glyphs are drawn
filled and stroked), never colour alone. ``invariant=1`` makes the same data give the same bytes.
English reports are set in the Latin face with Chinese runs in the CJK one (``fonts.runs``).
"""

from __future__ import annotations

import io
from functools import partial

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from xml.sax.saxutils import escape

from reports import fonts
from reports.exam_data import NORMAL_FLAGS, ExamData, LabRow, arrow
from telemed.i18n import translate

PAGE_W, PAGE_H = A4
MARGIN = 15 * mm
BODY_W = PAGE_W - 2 * MARGIN
LAB_COLUMNS = (62 * mm, 32 * mm, 16 * mm, 30 * mm, 40 * mm)
SUMMARY_COLUMNS = (10 * mm, 38 * mm, 40 * mm, 92 * mm)
# A panel this short moves to the next page whole rather than split (header stays with rows anyway).
KEEP_WHOLE_ROWS = 25


def draw_runs(canvas: Canvas, x: float, y: float, text: str, base: str, size: float, *, right: bool = False,
              render_mode: int = 0) -> None:
    """One line of text, each run in its face; ``right`` aligns its end on ``x``."""
    if right:
        x -= fonts.width(text, base, size)
    line = canvas.beginText(x, y)
    line.setTextRenderMode(render_mode)
    for piece, font in fonts.runs(text, base):
        line.setFont(font, size)
        line.textOut(piece)
    canvas.drawText(line)


class Strong(Flowable):
    """Bold-looking text in a face without a bold variant: fill and stroke the glyphs."""

    def __init__(self, text: str, size: float, base: str = fonts.CJK) -> None:
        super().__init__()
        self.text, self.size, self.base = text, size, base

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return fonts.width(self.text, self.base, self.size), self.size * 1.2

    def draw(self) -> None:
        canvas = self.canv
        canvas.saveState()
        canvas.setLineWidth(self.size * 0.045)
        draw_runs(canvas, 0, self.size * 0.25, self.text, self.base, self.size, render_mode=2)
        canvas.restoreState()


class NumberedCanvas(Canvas):
    """Holds each page until the end so every footer can say "page x / y"."""

    def __init__(self, *args, header: str, footer: str, page_label, font: str, **kwargs) -> None:
        # The canvas's initial font is written into every page: left at Helvetica, it is a font
        # that is not embedded.
        super().__init__(*args, **(kwargs | {"initialFontName": font}))
        self._pages: list[dict] = []
        self._header, self._footer, self._page_label, self._font = header, footer, page_label, font

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, 1):
            self.__dict__.update(state)
            self._decorate(number, total)
            super().showPage()
        super().save()

    def _decorate(self, number: int, total: int) -> None:
        draw_runs(self, MARGIN, PAGE_H - 10 * mm, self._header, self._font, 8)
        self.line(MARGIN, PAGE_H - 11.5 * mm, PAGE_W - MARGIN, PAGE_H - 11.5 * mm)
        self.line(MARGIN, 12 * mm, PAGE_W - MARGIN, 12 * mm)
        draw_runs(self, MARGIN, 8 * mm, self._footer, self._font, 8)
        draw_runs(self, PAGE_W - MARGIN, 8 * mm, self._page_label(page=number, pages=total), self._font, 8, right=True)


class Styles:
    """The paragraph styles of one report language: its body face, and CJK line breaking
    (between any two characters) only for Chinese, so English words are never cut."""

    def __init__(self, lang: str) -> None:
        fonts.register()
        self.font = font = fonts.body_font(lang)
        wrap = "CJK" if font == fonts.CJK else None
        self.title = ParagraphStyle("title", fontName=font, fontSize=18, leading=24, alignment=1, spaceAfter=4)
        self.h1 = ParagraphStyle("h1", fontName=font, fontSize=13, leading=18, spaceBefore=8, spaceAfter=4)
        self.h2 = ParagraphStyle("h2", fontName=font, fontSize=11, leading=15, spaceBefore=6, spaceAfter=2)
        self.body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13, wordWrap=wrap)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=8, leading=11)
        self.section = ParagraphStyle("section", parent=self.body, leading=15, spaceBefore=5)

    def para(self, text: str, style: ParagraphStyle, *, escaped: bool = False) -> Paragraph:
        """A paragraph of ``text`` (escaped here unless ``escaped``), its Chinese runs in the CJK face."""
        return Paragraph(fonts.markup(text if escaped else escape(text), self.font), style)


_STYLES: dict[str, Styles] = {}


def styles(lang: str) -> Styles:
    if lang not in _STYLES:
        _STYLES[lang] = Styles(lang)
    return _STYLES[lang]


def render(data: ExamData) -> tuple[bytes, int]:
    """The report's PDF bytes and its page count."""
    t = partial(translate, data.lang)
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=16 * mm,
                            bottomMargin=16 * mm, invariant=1, title=f"{t('reports.title')} {data.booking_number}",
                            author=data.facility, creator="telemed reports", subject=data.campaign)
    header = f"{data.facility} · {t('reports.title')} · {data.name} {data.booking_number}"
    maker = partial(NumberedCanvas, header=header, footer=t("reports.footer"), page_label=partial(t, "reports.page"),
                    font=styles(data.lang).font)
    doc.build(story(data), canvasmaker=maker)
    pages = doc.page
    return buffer.getvalue(), pages


def story(data: ExamData) -> list[Flowable]:
    s, t = styles(data.lang), partial(translate, data.lang)
    out: list[Flowable] = [s.para(data.facility, s.h2), s.para(t("reports.title"), s.title, escaped=True),
                           identity_table(data)]
    if data.status == "refused":
        out.append(s.para(t("reports.refused"), s.h1, escaped=True))
        out.append(s.para(f"{t('reports.refusal_reason')}: {escape(data.refusal_reason)}", s.body, escaped=True))
        return out + signatures(data)
    out += summary(data)
    out.append(s.para(t("reports.legend"), s.small, escaped=True))
    if data.vitals:
        out += lab_block(t("reports.vitals"), data.vitals, data.lang)
    out += sections(data)
    out.append(s.para(t("reports.labs"), s.h1, escaped=True))
    if not data.panels:
        out.append(s.para(t("reports.no_labs"), s.body, escaped=True))
    for panel in data.panels:
        out += lab_block(panel.name, panel.rows, data.lang)
    out.append(s.para(t("reports.conclusion"), s.h1, escaped=True))
    out.append(s.para(data.conclusion or "-", s.body))
    out.append(s.para(t("reports.recommendations"), s.h2, escaped=True))
    out.append(s.para(data.recommendations or "-", s.body))
    return out + signatures(data)


def identity_table(data: ExamData) -> Table:
    t = partial(translate, data.lang)
    sex = t(f"reports.sex_{data.sex}")
    age = "" if data.age is None else str(data.age)
    cells = [
        [t("reports.name"), data.name, t("reports.sex"), sex, t("reports.age"), age],
        [t("reports.booking"), data.booking_number, t("reports.national_id"), data.national_id, t("reports.cell"), data.cell],
        [t("reports.exam_date"), data.exam_date, t("reports.exam_no"), str(data.exam_id), t("reports.campaign"), data.campaign],
    ]
    widths = (20 * mm, 34 * mm, 20 * mm, 44 * mm, 18 * mm, 44 * mm)
    rows = [[_fit(c, w, data.lang) for c, w in zip(row, widths)] for row in cells]
    table = Table(rows, colWidths=widths, rowHeights=_row_heights(rows, 8, 6))
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), fonts.body_font(data.lang), 8),
                               ("BOX", (0, 0), (-1, -1), 0.6, colors.black),
                               ("INNERGRID", (0, 0), (-1, -1), 0.25, colors.black),
                               ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    return table


def summary(data: ExamData) -> list[Flowable]:
    s, t = styles(data.lang), partial(translate, data.lang)
    out: list[Flowable] = [s.para(t("reports.summary_title"), s.h1, escaped=True)]
    if not data.findings:
        return out + [s.para(t("reports.no_findings"), s.body, escaped=True)]
    rows: list[list] = [[t("reports.col_no"), t("reports.col_item"), t("reports.col_result"), t("reports.col_advice")]]
    for number, finding in enumerate(data.findings, 1):
        shown = f"{finding.value} {arrow(finding.flag)}".strip()
        rows.append([str(number), s.para(finding.name, s.body), Strong(shown, 9.5, s.font),
                     s.para(finding.advice, s.body)])
    table = Table(rows, colWidths=SUMMARY_COLUMNS, repeatRows=1)
    table.setStyle(grid_style(s.font))
    return out + [table]


def grid_style(font: str) -> TableStyle:
    return TableStyle([
        ("FONT", (0, 0), (-1, -1), font, 9),
        ("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("LINEBELOW", (0, -1), (-1, -1), 0.8, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ])


def lab_block(title: str, rows: list[LabRow], lang: str) -> list[Flowable]:
    """One panel: its title and a fixed-width table whose header repeats on every page it spans."""
    s, t = styles(lang), partial(translate, lang)
    head = [t("reports.col_item"), t("reports.col_result"), t("reports.col_flag"), t("reports.col_unit"),
            t("reports.col_reference")]
    body = [[_fit(row.name, LAB_COLUMNS[0], lang, 9), _result_cell(row, s.font), arrow(row.flag),
             _fit(row.unit, LAB_COLUMNS[3], lang, 9), _fit(row.reference, LAB_COLUMNS[4], lang, 9)] for row in rows]
    table = Table([head, *body], colWidths=LAB_COLUMNS, repeatRows=1, rowHeights=_row_heights([head, *body], 9, 3))
    table.setStyle(grid_style(s.font))
    heading = s.para(title, s.h2)
    if len(rows) <= KEEP_WHOLE_ROWS:
        return [KeepTogether([heading, table])]
    heading.keepWithNext = True
    return [heading, table]


def _row_heights(rows: list[list], size: float, padding: float) -> list[float | None]:
    """Fixed heights for rows of one-line strings: reportlab then skips measuring them, which is
    a third of the layout time of a report. Rows holding a flowable are measured (None)."""
    line = size * 1.2 + padding
    return [None if any(isinstance(c, Flowable) for c in row) else line for row in rows]


def _fit(text: str, width: float, lang: str, size: float = 8) -> str | Paragraph:
    """Plain strings are much faster to lay out; only text too wide for its column, or Chinese
    text that needs the other face (Chinese in a Latin-set report, ⁹ in a Chinese one), becomes a paragraph."""
    s = styles(lang)
    if fonts.one_face(text, s.font):
        if stringWidth(text, s.font, size) < width - 6:
            return text
    return s.para(text, s.small)


def _result_cell(row: LabRow, font: str) -> str | Strong:
    if row.flag in NORMAL_FLAGS:
        return row.value if fonts.one_face(row.value, font) else Strong(row.value, 9, font)
    return Strong(row.value, 9, font)


def sections(data: ExamData) -> list[Flowable]:
    """One paragraph per department (heading, findings, advice, doctor): far fewer to lay out."""
    s, t = styles(data.lang), partial(translate, data.lang)
    if not data.sections:
        return [s.para(t("reports.no_sections"), s.body, escaped=True)]
    out: list[Flowable] = []
    for section in data.sections:
        marker = f" {t('reports.abnormal_marker')}" if section.abnormal else ""
        lines = [f'<font size="11">{escape(section.title)}{marker}</font>',
                 f"{t('reports.finding')}: {escape(section.text)}"]
        if section.advice:
            lines.append(f"{t('reports.advice')}: {escape(section.advice)}")
        lines.append(f'<font size="8">{t("reports.doctor")}: {escape(section.doctor)}</font>')
        out.append(s.para("<br/>".join(lines), s.section, escaped=True))
    return out


def signatures(data: ExamData) -> list[Flowable]:
    s, t = styles(data.lang), partial(translate, data.lang)
    reviewer = data.reviewer or t("reports.not_reviewed")
    gap = "　　" if s.font == fonts.CJK else "&nbsp;" * 6
    line = (f"{t('reports.examiner')}: {escape(data.examiner)}{gap}{t('reports.reviewer')}: {escape(reviewer)}"
            f"{gap}{t('reports.report_date')}: {data.exam_date}")
    return [Spacer(1, 8 * mm), s.para(line, s.body, escaped=True)]
