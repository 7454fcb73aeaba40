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
