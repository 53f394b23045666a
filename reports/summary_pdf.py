"""The cohort summary as a PDF: tables and bar charts (reportlab graphics, greys only, so it
prints in black and white), in the report fonts. A bar's label is shortened (…) to the room left
of the chart, so no label runs off the page."""

from __future__ import annotations

import io
from functools import partial

import pandas as pd
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import SimpleDocTemplate, Table

from reports import fonts
from reports.pdf import BODY_W, MARGIN, NumberedCanvas, grid_style, styles
from telemed.i18n import translate

TOP = 15


LABEL_SIZE = 8
LABEL_ROOM = 0.42  # at most this share of the width for the bar labels, left of the chart
LABEL_GAP = 8  # between a label's end and the axis (the axis draws its labels this far left)


def _shorten(text: str, font: str, room: float) -> str:
    if pdfmetrics.stringWidth(text, font, LABEL_SIZE) <= room:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, LABEL_SIZE) > room:
        text = text[:-1]
    return text.rstrip() + "…"


def bar_chart(labels: list[str], values: list[float], lang: str, width: float = BODY_W) -> Drawing:
    """Horizontal bars; the labels keep inside the drawing (a chart's labels are one face: the CJK
    one as soon as any label holds Chinese, which also sets Latin)."""
    base = fonts.body_font(lang)
    font = fonts.CJK if any(fonts.has_cjk(label) for label in labels) else base
    room = width * LABEL_ROOM - LABEL_GAP
    labels = [_shorten(label, font, room) for label in labels]
    left = min(max((pdfmetrics.stringWidth(label, font, LABEL_SIZE) for label in labels), default=0), room) + LABEL_GAP
    height = 30 + 16 * max(len(values), 1)
    drawing = Drawing(width, height)
    drawing.initialFontName = base  # else the drawing starts in (unembedded) Helvetica
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = left + 2, 15, width - left - 40, height - 25
    chart.data = [values or [0]]
    chart.categoryAxis.categoryNames = labels or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = LABEL_SIZE
    chart.valueAxis.labels.fontName = base
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.Color(0.55, 0.55, 0.55)
    chart.barLabelFormat = "%g"
    chart.barLabels.fontName = base
    chart.barLabels.fontSize = 7
    chart.barLabels.nudge = 8
    drawing.add(chart)
    return drawing


CHUNK = 40  # rows per table: one long table splitting over many pages lays out quadratically slower


def _tables(frame: pd.DataFrame, headers: list[str], widths: tuple[float, ...], lang: str) -> list[Table]:
    s = styles(lang)
    cells = [[s.para(str(v), s.small) for v in row] for row in frame.itertuples(index=False)]
    out = []
    for start in range(0, max(len(cells), 1), CHUNK):
        table = Table([headers, *cells[start:start + CHUNK]], colWidths=widths, repeatRows=1, hAlign="LEFT")
        table.setStyle(grid_style(s.font))
        out.append(table)
    return out


def render_summary(tables: dict[str, pd.DataFrame], lang: str) -> bytes:
    t = partial(translate, lang)
    s = styles(lang)
    label = lambda key: t(f"reports.summary.{key}")  # noqa: E731
    heading = lambda key, style: s.para(label(key), style, escaped=True)  # noqa: E731
    story: list = [heading("title", s.title), heading("participation", s.h1)]
    part = tables["participation"]
    story.append(bar_chart([label(m) for m in part.measure][::-1], [int(c) for c in part["count"]][::-1], lang))
    everyone = tables["prevalence"]
    everyone = everyone[(everyone.sex == "all") & (everyone.age_band == "all")].head(TOP)
    story += [heading("prevalence", s.h1),
              bar_chart(list(everyone.name)[::-1], [float(p) for p in everyone.percent][::-1], lang)]
    chronic = tables["chronic"].copy()
    chronic["condition"] = chronic.condition.map(label)
    story += [heading("chronic", s.h1),
              bar_chart(list(chronic.condition)[::-1], list(chronic.percent)[::-1], lang),
              *_tables(chronic[["condition", "count", "percent", "count_male", "count_female"]],
                       [label("measure"), label("count"), label("percent"), label("male"), label("female")],
                       (60 * mm, 30 * mm, 30 * mm, 30 * mm, 30 * mm), lang),
              heading("by_sex_age", s.small)]
    follow = tables["followup"].copy()
    follow["urgency"] = follow.urgency.map(label)
    story += [heading("followup", s.h1),
              *_tables(follow, [label("urgency"), t("reports.booking"), t("reports.name"), label("findings"),
                                label("advice")], (16 * mm, 36 * mm, 20 * mm, 48 * mm, 60 * mm), lang)]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, invariant=1,
                            title=label("title"))
    maker = partial(NumberedCanvas, header=label("title"), footer=t("reports.footer"),
                    page_label=partial(t, "reports.page"), font=s.font)
    doc.build(story, canvasmaker=maker)
    return buffer.getvalue()
