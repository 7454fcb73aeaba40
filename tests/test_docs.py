"""Documentation stays true to the registries and the schema."""
from __future__ import annotations

from pathlib import Path

import pytest

from edrql.functions import AGGREGATIONS, FUNCTIONS, OPERATORS, STAGES, tables_doc
from edrql.schema import COLUMNS

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) | set(AGGREGATIONS) | set(OPERATORS)
                                        | set(STAGES) | set(tables_doc())))
def test_language_doc_covers_registry(name):
    text = (DOCS / "language.md").read_text(encoding="utf-8")
    assert f"| `{name}` |" in text, f"docs/language.md has no table row for `{name}`"


@pytest.mark.parametrize("name", [c[0] for c in COLUMNS])
def test_schema_doc_covers_columns(name):
    text = (DOCS / "schema.md").read_text(encoding="utf-8")
    assert f"| `{name}` |" in text


def _examples():
    for reg in (FUNCTIONS, AGGREGATIONS, OPERATORS, STAGES):
        for item in reg.values():
            q = item.example
            if not q.startswith(("events", "search", "procs")):
                q = "events | " + q
            yield pytest.param(q, id=f"{item.name}")


@pytest.mark.parametrize("query", list(_examples()))
def test_documented_examples_run(example_case, query, tmp_path, monkeypatch):
    from edrql.query import execute_text, make_context
    monkeypatch.chdir(tmp_path)  # `save` examples write here
    if 'sigma("examples/sigma"' in query:      # the sigma() example reads the example rules
        import shutil
        shutil.copytree(DOCS.parent / "examples" / "sigma", tmp_path / "examples" / "sigma")
    execute_text(make_context(example_case), query)


def test_guarantees_name_tests_that_exist():
    """Each promise in docs/guarantees.md names the test file that defends it."""
    import re
    text = (DOCS / "guarantees.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/test_[a-z_]+\.py)`", text))
    assert len(named) >= 8
    root = DOCS.parent
    assert [n for n in sorted(named) if not (root / n).is_file()] == []


def test_kql_differences_name_cases_that_exist():
    """Each difference in docs/kql.md names the golden case (file: case name) or test file
    that pins it; a renamed or deleted case fails here."""
    import re
    text = (DOCS / "kql.md").read_text(encoding="utf-8")
    golden = DOCS.parent / "tests" / "golden"
    names = {f.stem: [b.partition("\n")[0].strip() for b in
                      ("\n" + f.read_text(encoding="utf-8")).split("\n### ")[1:]]
             for f in golden.glob("*.golden")}
    cited = re.findall(r"\b(" + "|".join(map(re.escape, names)) + r"): ([^|;\n]+)", text)
    assert len(cited) >= 15
    missing = [(stem, ref.strip()) for stem, ref in cited
               if not any(ref.strip().startswith(case) for case in names[stem])]
    assert missing == []
    files = set(re.findall(r"`(tests/test_[a-z_]+\.py)`", text))
    assert [f for f in sorted(files) if not (DOCS.parent / f).is_file()] == []
