"""The server-drawn SVG bar charts (``idp.web.charts``): well-formed, described, proportional,
and safe with any text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from idp.web.charts import PLOT_HEIGHT, Series, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def _chart(values_ok, values_failed, labels=None, **kw) -> ET.Element:
    labels = labels or [f"{i:02d}:00" for i in range(len(values_ok))]
    markup = bar_chart(
        chart_id=kw.pop("chart_id", "c"),
        title=kw.pop("title", "Sign-ins per hour"),
        labels=labels,
        series=[Series("Signed in", values_ok), Series("Failed", values_failed)],
        **kw,
    )
    return ET.fromstring(markup)


def _bars(svg: ET.Element, series: int) -> list[float]:
    return [
        float(r.get("height"))
        for r in svg.iter(f"{SVG}rect")
        if r.get("class") == f"chart-s{series}" and r.find(f"{SVG}title") is not None
    ]


def test_the_chart_is_an_accessible_image_with_a_title_and_a_summary():
    svg = _chart([1, 4, 2], [0, 3, 0])
    assert svg.get("role") == "img" and svg.get("width") == "100%"
    assert svg.get("viewBox").startswith("0 0 ")
    assert svg.get("aria-labelledby") == "c-t c-d"
    assert svg.find(f"{SVG}title").text == "Sign-ins per hour"
    desc = svg.find(f"{SVG}desc").text
    assert "Signed in: 7 in all, most 4 at 01:00." in desc
    assert "Failed: 3 in all, most 3 at 01:00." in desc


def test_bar_heights_are_proportional_to_the_values():
    svg = _chart([10, 5, 0, 2], [1, 0, 4, 10])
    ok, failed = _bars(svg, 0), _bars(svg, 1)
    assert ok == [PLOT_HEIGHT, PLOT_HEIGHT / 2, 0, PLOT_HEIGHT / 5]
    assert failed == [PLOT_HEIGHT / 10, 0, PLOT_HEIGHT * 0.4, PLOT_HEIGHT]
    tops = [float(r.get("y")) + float(r.get("height")) for r in svg.iter(f"{SVG}rect")
            if r.find(f"{SVG}title") is not None]  # fmt: skip
    assert len(set(tops)) == 1  # every bar stands on the baseline


def test_no_data_draws_empty_bars_and_says_none():
    svg = _chart([0] * 24, [0] * 24)
    assert _bars(svg, 0) == [0.0] * 24 and _bars(svg, 1) == [0.0] * 24
    assert svg.find(f"{SVG}desc").text == "Signed in: none. Failed: none."


def test_every_nth_label_is_written():
    svg = _chart([1] * 24, [0] * 24, every=6)
    written = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-x"]
    assert written == ["00:00", "06:00", "12:00", "18:00"]


def test_texts_are_escaped():
    markup = bar_chart(
        chart_id='x"><script>',
        title="<b>&</b>",
        labels=["<i>"],
        series=[Series("a<b", [1])],
    )
    assert "<script>" not in markup and "<b>" not in markup and "<i>" not in markup
    svg = ET.fromstring(markup)  # still well-formed
    assert svg.find(f"{SVG}title").text == "<b>&</b>"
    assert svg.find(f"{SVG}desc").text == "a<b: 1 in all, most 1 at <i>."
