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
                   .replace("CommandLine|startswith: 'xy'", "CommandLine|contains: 'xy'\n    Image: a"))
    out = engine.evaluate(rs.rules, PlainFields(TABLE))
    rows, matched = out.hits.column("row").to_pylist(), out.hits.column("matched").to_pylist()
    assert len(rows) == len(matched) == 4 and rows == [0, 2, 3, 4]
    # rows 0, 3, 4 fire by `not filter` alone (a negated test shows nothing); row 2 by sel2
    assert matched == ["", "CommandLine: xyz; Image: a", "", ""]


def test_a_fields_defect_is_the_rules_failure_not_wrong_hits(tmp_path):
    class Short(PlainFields):
        def values(self, field, rows, ls):
            v = super().values(field, rows, ls)
            return v.slice(1) if field == "Image" and v is not None else v
    rs = load_text(tmp_path, RULE)
    out = engine.evaluate(rs.rules, Short(TABLE))
    assert out.status == [("failed", "Image: the field mapping gave 4 values for 5 rows")]
    assert out.hits.num_rows == 0


def test_anchor_characters_inside_a_value_cannot_fake_an_end_or_a_start(tmp_path):
    """The matcher frames values with private-use anchors; a value holding them (attacker
    text) must not end with 'svchost.exe' nor equal 'whoami'."""
    rs = load_text(tmp_path, """
        title: anchors
        id: 22222222-1111-1111-1111-111111111111
        level: high
        logsource: {category: process_creation, product: windows}
        detection:
          sel: {Image|endswith: '\\\\rundll32.exe'}
          filter: {Image|endswith: '\\\\svchost.exe'}
          who: {CommandLine: 'whoami'}
          condition: (sel and not filter) or who
        """)
    t = pa.table({"Image": ["C:\\t\\svchost.exe\ue001x\\rundll32.exe", "C:\\w\\svchost.exe", "q"],
                  "CommandLine": ["a", "b", "whoami\ue001 /all"]})
    out = engine.evaluate(rs.rules, PlainFields(t))
    assert out.hits.column("row").to_pylist() == [0]


def test_required_literals_of_regexes():
    from edrql.sigma._match import required_literal
    assert required_literal(r"\\appdata\\local\\temp\\.*\.exe", "i") == ("\\appdata\\local\\temp\\", True)
    assert required_literal(r"net\.webclient", "") == ("net.webclient", False)
    assert required_literal(r"(?i)Invoke-Mimikatz", "") == ("Invoke-Mimikatz", True)
    assert required_literal(r"abc|xyz", "") is None          # alternation: nothing required
    assert required_literal(r"ab?c", "") is None             # 'b' optional: runs of 1 and 1
    assert required_literal(r"[a-z]{5}", "") is None
    assert required_literal(r"(?<=x)", "") is None


def test_prefiltered_regexes_agree_with_a_scan_of_every_value():
    """A regex run only on values holding its literal gives the answer of running it on all
    (case folding beyond ASCII included: RE2's (?i) folds ſ→s and K→k)."""
    import numpy as np
    import pyarrow.compute as pc
    from edrql.sigma._match import Column, Test, match_tests
    rnd = np.random.default_rng(7)
    words = ["AppData", "appdata", "Temp", "\\", "x.exe", ".EXE", "ſ", "K", "net", "Net.WebClient",
             "webclient", "a", "mimikatz", "MIMIKATZ", "invoke-", "é"]
    vals = pa.array(["".join(rnd.choice(words, rnd.integers(1, 7))) for _ in range(3000)] + [None])
    pats = [(r"\\appdata\\.*\.exe", "i"), (r"appdata.*temp", ""), (r"net\.webclient", "i"),
            (r"Net\.WebClient", ""), (r"invoke-mimikatz", "i"), (r"(?i)MIMIKATZ$", ""),
            (r"mimi", "ims"), (r"ask", "i"), (r"aſk", "")]
    tests = [Test("F", "re", p) for p in pats]
    col = Column(vals, len(vals))
    got = match_tests(col, tests)
    for t in tests:
        flags = f"(?{t.arg[1]})" if t.arg[1] else ""
        want = np.flatnonzero(pc.fill_null(pc.match_substring_regex(
            col.text, flags + t.arg[0]), False).to_numpy(zero_copy_only=False))
        assert got[t].tolist() == want.tolist(), t


def test_a_long_run_regex_is_a_length_test_with_the_regex_meaning():
    import numpy as np
    import pyarrow.compute as pc
    from edrql.sigma._match import regex_over
    vals = pa.array(["a" * 12, "a" * 11, "a" * 6 + "\n" + "a" * 6, "a" * 12 + "\nb", "ab\n" * 9, None,
                     "é" * 12])
    for pat, flags in ((r".{12,}", ""), (r".{12,}", "s"), (r".{12,40}", "i"), (r".{3,}", "")):
        want = pc.fill_null(pc.match_substring_regex(vals, (f"(?{flags})" if flags else "") + pat),
                            False).to_numpy(zero_copy_only=False)
        assert regex_over(vals, pat, flags).tolist() == want.tolist(), (pat, flags)
    assert np.asarray(regex_over(vals, r".{12,}", "")).sum() == 3


def test_values_beyond_the_bmp_keep_the_automaton_aligned(tmp_path):
    """The automaton walks all distinct values as one text; positions are code points, so
    values with emoji before a match still map to the right value."""
    rs = load_text(tmp_path, """
        title: align
        id: 33333333-1111-1111-1111-111111111111
        level: high
        logsource: {category: process_creation, product: windows}
        detection:
          sel: {CommandLine|endswith: ' -enc', Image|startswith: 'C:\\\\x'}
          condition: sel
        """)
    t = pa.table({"CommandLine": ["😀😀 -enc", "😀 -enc😀", "é -ENC", "-enc", None, "😀"],
                  "Image": ["C:\\x\\a", "C:\\x\\b", "c:\\X\\c", "D:\\x", "C:\\x", "C:\\x"]})
    out = engine.evaluate(rs.rules, PlainFields(t))
    assert out.hits.column("row").to_pylist() == [0, 2]


OR_RULE = """
title: either branch
id: 22222222-2222-2222-2222-222222222222
status: test
level: medium
logsource: {category: process_creation, product: windows}
detection:
  a:
    Image|endswith: '\\\\evil.exe'
    CommandLine|contains: 'steal'
  b:
    ParentImage|endswith: '\\\\winword.exe'
  condition: a or b
"""


def test_matched_names_only_the_fields_of_a_branch_that_holds(tmp_path):
    rs = load_text(tmp_path, OR_RULE)
    table = pa.table({"Image": [r"C:\x\evil.exe", r"C:\x\evil.exe", "a"],
                      "CommandLine": ["run", "steal it", "x"],
                      "ParentImage": [r"C:\o\WINWORD.EXE", None, r"C:\o\winword.exe"]})
    out = engine.evaluate(rs.rules, PlainFields(table))
    got = dict(zip(out.hits.column("row").to_pylist(), out.hits.column("matched").to_pylist()))
    # row 0 fired by b only: its Image matched a's endswith, but a is false there
    assert got[0] == r"ParentImage: C:\o\WINWORD.EXE"
    assert got[1] == r"Image: C:\x\evil.exe; CommandLine: steal it"
    assert got[2] == r"ParentImage: C:\o\winword.exe"
