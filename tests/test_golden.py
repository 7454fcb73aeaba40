"""Golden cases: query → expected rows (CSV) or → expected error text.

Each ``tests/golden/*.golden`` file holds cases::

    ### a name
    events | where pid == 6640 | count
    --- csv
    count
    23

    ### another
    events | where nmae == "x"
    --- error
    unknown field 'nmae'
    did you mean name

``--- csv`` compares the CSV output row by row (parsed, so quoting style does not matter); ``--- error`` checks that
every expected line occurs in the error text. Cases run on the example case.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from edrql.query import error_text, execute_text, make_context
from edrql.render import to_csv

GOLDEN = Path(__file__).parent / "golden"


def _rows(text: str) -> list[list[str]]:
    return [r for r in csv.reader(io.StringIO(text.strip("\r\n")))]


def load_cases():
    cases = []
    for f in sorted(GOLDEN.glob("*.golden")):
        for block in f.read_text(encoding="utf-8").split("\n### ")[0:]:
            block = block.removeprefix("### ")
            if not block.strip() or block.lstrip().startswith("#"):
                continue
            head, _, rest = block.partition("\n")
            query, sep, expect = rest.partition("\n--- ")
            assert sep, f"{f.name}: case {head!r} has no --- csv/--- error section"
            kind, _, body = expect.partition("\n")
            cases.append(pytest.param(query.strip(), kind.strip(), body.strip("\n"),
                                      id=f"{f.stem}:{head.strip()}"))
    return cases


@pytest.mark.parametrize("query,kind,expected", load_cases())
def test_golden(example_case, query, kind, expected):
    ctx = make_context(example_case)
    if kind == "csv":
        results = execute_text(ctx, query)
        got = to_csv(results[-1].table, escape=False).decode("utf-8")
        assert _rows(got) == _rows(expected)
    elif kind == "error":
        with pytest.raises(Exception) as ei:
            execute_text(ctx, query)
        text = error_text(ei.value, query)
        for line in expected.splitlines():
            assert line.strip() in text, text
    else:
        raise AssertionError(f"unknown expectation {kind!r}")
