"""report.md shows titles, names and labels as written: never as HTML or Markdown, never breaking a table."""

from __future__ import annotations

import re

import pandas as pd

from shrinkvis import report as reports
from shrinkvis.data import ModelData
from shrinkvis.fit import fit
from shrinkvis.scenario import ModelSpec

from .conftest import load_reference

LABELS = ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "a|b", "two\nlines", "*bold* [l](x)"]


def _markdown() -> str:
    frame, _ = load_reference("intercept_only_s7")
    codes = pd.factorize(frame["school"])[0]
    clusters = [LABELS[code] if code < len(LABELS) else f"school {code}" for code in codes]
    rows = pd.DataFrame({"y": frame["score"], "cluster": clusters})
    estimates = fit(rows, ModelSpec(random="intercept"))
    data = ModelData(rows, "<b>file</b>.csv", "score", "school|name", None, 0)
    return reports.markdown(reports.build(estimates, data, "Title <script>x</script> | `code`"))


def test_no_markup_of_the_user_reaches_the_report():
    # the lme4-like summary is a fenced code block, shown as it is; nothing outside it is markup
    text = re.sub(r"(?s)\n(`{3,})text\n.*?\n\1\n", "\n", _markdown())
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert text.startswith(
        "# Title &lt;script&gt;x&lt;/script&gt; \\| \\`code\\`: the numbers behind the picture\n"
    )
    assert '&lt;img src=x onerror="alert(1)"&gt;' in text
    assert "\\*bold\\* \\[l\\](x)" in text


def test_every_row_of_the_shrinkage_table_has_its_cells():
    lines = _markdown().splitlines()
    heading = next(index for index, line in enumerate(lines) if line.startswith("| school\\|name |"))
    table = lines[heading : heading + 2 + 25]
    cells = [len(line.replace("\\|", "").split("|")) for line in table]
    assert len(set(cells)) == 1, table  # a `|` or a line break in a label breaks no row
    assert any("| two\\\\nlines |" in line for line in table)
    assert any("| a\\|b |" in line for line in table)
