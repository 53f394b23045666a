"""The cohort summary as a PDF: tables and bar charts (reportlab graphics, greys only, so it
prints in black and white), in the report font."""

from __future__ import annotations

import io
from functools import partial
from xml.sax.saxutils import escape

import pandas as pd
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table

from reports import fonts
from reports.pdf import BODY_W, MARGIN, NumberedCanvas, grid_style, styles
from telemed.i18n import translate

TOP = 15


def bar_chart(labels: list[str], values: list[float], width: float = BODY_W) -> Drawing:
    height = 30 + 16 * max(len(values), 1)
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 130, 15, width - 160, height - 25
    chart.data = [values or [0]]
    chart.categoryAxis.categoryNames = labels or [""]
    chart.categoryAxis.labels.fontName = fonts.FONT
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.labels.fontName = fonts.FONT
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.Color(0.55, 0.55, 0.55)
    chart.barLabelFormat = "%g"
    chart.barLabels.fontName = fonts.FONT
    chart.barLabels.fontSize = 7
    chart.barLabels.nudge = 8
    drawing.add(chart)
    return drawing


CHUNK = 40  # rows per table: one long table splitting over many pages lays out quadratically slower


def _tables(frame: pd.DataFrame, headers: list[str], widths: tuple[float, ...]) -> list[Table]:
    s = styles()
    cells = [[Paragraph(escape(str(v)), s.small) for v in row] for row in frame.itertuples(index=False)]
    out = []
    for start in range(0, max(len(cells), 1), CHUNK):
        table = Table([headers, *cells[start:start + CHUNK]], colWidths=widths, repeatRows=1, hAlign="LEFT")
        table.setStyle(grid_style())
        out.append(table)
    return out


def render_summary(tables: dict[str, pd.DataFrame], lang: str) -> bytes:
    t = partial(translate, lang)
    s = styles()
    label = lambda key: t(f"reports.summary.{key}")  # noqa: E731
    story: list = [Paragraph(label("title"), s.title), Paragraph(label("participation"), s.h1)]
    part = tables["participation"]
    story.append(bar_chart([label(m) if m != "examined" else label("examined") for m in part.measure][::-1],
                           [int(c) for c in part["count"]][::-1]))
    everyone = tables["prevalence"]
    everyone = everyone[(everyone.sex == "all") & (everyone.age_band == "all")].head(TOP)
    story += [Paragraph(label("prevalence"), s.h1),
              bar_chart(list(everyone.name)[::-1], [float(p) for p in everyone.percent][::-1])]
    chronic = tables["chronic"].copy()
    chronic["condition"] = chronic.condition.map(label)
    story += [Paragraph(label("chronic"), s.h1), bar_chart(list(chronic.condition)[::-1], list(chronic.percent)[::-1]),
              *_tables(chronic[["condition", "count", "percent", "count_male", "count_female"]],
                       [label("measure"), label("count"), label("percent"), label("male"), label("female")],
                       (60 * mm, 30 * mm, 30 * mm, 30 * mm, 30 * mm)),
              Paragraph(label("by_sex_age"), s.small)]
    follow = tables["followup"].copy()
    follow["urgency"] = follow.urgency.map(label)
    story += [Paragraph(label("followup"), s.h1),
              *_tables(follow, [label("urgency"), t("reports.booking"), t("reports.name"), label("findings"),
                                label("advice")], (16 * mm, 36 * mm, 20 * mm, 48 * mm, 60 * mm))]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, invariant=1,
                            title=label("title"))
    maker = partial(NumberedCanvas, header=label("title"), footer=t("reports.footer"),
                    page_label=partial(t, "reports.page"))
    doc.build(story, canvasmaker=maker)
    return buffer.getvalue()
