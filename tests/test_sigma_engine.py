"""The one-pass engine over a stand-in Fields (Sigma field name == column name)."""
from __future__ import annotations

import textwrap

import pyarrow as pa

from edrql.sigma import engine, rules
from edrql.sigma._plainfields import PlainFields


def load_text(tmp_path, text: str, name: str = "r.yml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return rules.load([str(p)], cache=False)


RULE = """
title: encoded powershell
id: 11111111-1111-1111-1111-111111111111
status: test
level: high
author: tester
tags: [attack.t1059.001, attack.execution]
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\\\\powershell.exe'
    CommandLine|contains|all: ['-enc', 'hidden']
  sel2:
    CommandLine|startswith: 'xy'
  filter:
    ParentImage|startswith: 'C:\\\\Windows\\\\'
  condition: (sel or sel2) and not filter
"""

TABLE = pa.table({
    "Image": [r"C:\x\PowerShell.exe", r"C:\x\powershell.exe", "a", None, r"C:\powershell.exe.bak"],
    "CommandLine": ["-ENC x HIDDEN", "-enc hidden", "xyz", None, "-enc hidden"],
    "ParentImage": [r"c:\users\a", r"C:\Windows\explorer.exe", None, None, None]})


def test_and_or_not_case_insensitive(tmp_path):
    rs = load_text(tmp_path, RULE)
    out = engine.evaluate(rs.rules, PlainFields(TABLE))
    assert out.hits.column("row").to_pylist() == [0, 2]
    assert out.status == [("fired", "2 hits")]
    assert out.hits.column("matched").to_pylist()[0] == \
        r"Image: C:\x\PowerShell.exe; CommandLine: -ENC x HIDDEN"


def test_one_of_all_of(tmp_path):
    rs = load_text(tmp_path, RULE.replace("(sel or sel2) and not filter", "all of sel*"))
    assert engine.evaluate(rs.rules, PlainFields(TABLE)).hits.num_rows == 0
    rs = load_text(tmp_path, RULE.replace("(sel or sel2) and not filter", "1 of sel*"))
    assert engine.evaluate(rs.rules, PlainFields(TABLE)).hits.column("row").to_pylist() == [0, 1, 2]


def test_missing_field_is_absent_and_listed(tmp_path):
    rs = load_text(tmp_path, RULE)
    out = engine.evaluate(rs.rules, PlainFields(TABLE.drop_columns(["ParentImage"])))
    assert out.hits.column("row").to_pylist() == [0, 1, 2]
    assert out.missing == [("ParentImage",)]


def test_dictionary_values_with_a_shared_dictionary_and_null_entries(tmp_path):
    rs = load_text(tmp_path, RULE.replace("(sel or sel2) and not filter", "sel2"))
    big = [f"v{i}" for i in range(1000)] + ["XYZ", None]
    arr = pa.DictionaryArray.from_arrays(pa.array([1000, 1001, 5, None], pa.int32()), pa.array(big))
    t = pa.table({"CommandLine": arr, "Image": ["a"] * 4, "ParentImage": ["b"] * 4})
    out = engine.evaluate(rs.rules, PlainFields(t))
    assert out.hits.column("row").to_pylist() == [0]


def test_numbers_in_int_columns_match_as_text_too(tmp_path):
    rs = load_text(tmp_path, RULE.replace("CommandLine|startswith: 'xy'", "CommandLine|contains: '68'")
                   .replace("(sel or sel2) and not filter", "sel2"))
    t = pa.table({"CommandLine": pa.array([4688, 1, None]), "Image": ["a"] * 3, "ParentImage": ["b"] * 3})
    out = engine.evaluate(rs.rules, PlainFields(t))
    assert out.hits.column("row").to_pylist() == [0]
    assert out.hits.column("matched").to_pylist() == ["CommandLine: 4688"]


def test_logsource_without_rows_is_not_applicable(tmp_path):
    rs = load_text(tmp_path, RULE)
    t = TABLE.append_column("_logsource", pa.array(["network_connection/windows/"] * TABLE.num_rows))
    out = engine.evaluate(rs.rules, PlainFields(t))
    assert out.status == [("not applicable", "no process_creation events in this data")]
    assert out.hits.num_rows == 0


def test_matched_keeps_one_text_per_hit_when_no_shown_field_holds(tmp_path):
    """(pyarrow 26's binary_join_element_wise with null_handling='skip' drops all-null rows.)"""
    rs = load_text(tmp_path, RULE.replace("(sel or sel2) and not filter", "sel2 or not filter")
                   .replace("CommandLine|startswith: 'xy'", "CommandLine|contains: 'hid'\n    Image: a"))
    out = engine.evaluate(rs.rules, PlainFields(TABLE))
    rows, matched = out.hits.column("row").to_pylist(), out.hits.column("matched").to_pylist()
    assert len(rows) == len(matched) == 4 and rows == [0, 2, 3, 4]
    assert matched == ["CommandLine: -ENC x HIDDEN", "Image: a", "", "CommandLine: -enc hidden"]


def test_a_fields_defect_is_the_rules_failure_not_wrong_hits(tmp_path):
    class Short(PlainFields):
        def values(self, field, rows, ls):
            v = super().values(field, rows, ls)
            return v.slice(1) if field == "Image" and v is not None else v
    rs = load_text(tmp_path, RULE)
    out = engine.evaluate(rs.rules, Short(TABLE))
    assert out.status == [("failed", "Image: the field mapping gave 4 values for 5 rows")]
    assert out.hits.num_rows == 0
