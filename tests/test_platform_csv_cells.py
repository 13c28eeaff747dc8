"""Issue 11 item 4: one formula-injection guard for every CSV staff can download (members/csv_cells.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from members.csv_cells import csv_safe

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "cell",
    ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\tx", "\rx", "\uff1dSUM(A1)", "\uff0b1", "\uff0d1+1", "\uff20x"],
)
def test_every_formula_trigger_is_neutralised(cell):
    assert csv_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-12.5", "+3", "42", "Main St", ""])
def test_plain_numbers_and_text_are_left_alone(cell):
    assert csv_safe(cell) == cell


def test_no_module_keeps_its_own_formula_trigger_list():
    """A second hand-written list drifts (the annual review's missed the full-width forms)."""
    own_list = re.compile(r"""["']=["']\s*,\s*["']\+["']\s*,\s*["']-["']""")
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in ROOT.rglob("*.py")
        if not {".venv", "tests", "var", "migrations"} & set(path.relative_to(ROOT).parts)
        and own_list.search(path.read_text(errors="replace"))
    ]
    offenders.remove("members/csv_cells.py")
    assert offenders == []
