"""Every detection modifier of the Sigma specification, as pySigma applies it and the engine
runs it (one small rule per case over a stand-in Fields: Sigma field name == column name)."""
from __future__ import annotations

import base64
import textwrap

import pyarrow as pa
import pytest

from edrql.sigma import engine, rules
from edrql.sigma._plainfields import PlainFields

HEAD = """title: m
id: 22222222-2222-2222-2222-222222222222
status: test
level: medium
logsource: {category: process_creation, product: windows}
detection:
"""


def rule(tmp_path, detection: str, condition: str = "sel"):
    body = textwrap.indent(textwrap.dedent(detection).strip() + f"\ncondition: {condition}\n", "  ")
    p = tmp_path / "m.yml"
    p.write_text(HEAD + body, encoding="utf-8")
    return rules.load([str(p)], cache=False)


def hits(tmp_path, detection, cols: dict, condition="sel", kw=None) -> list[int]:
    rs = rule(tmp_path, detection, condition)
    assert rs.skipped == [], rs.skipped
    t = pa.table(cols)
    out = engine.evaluate(rs.rules, PlainFields(t, keyword_columns=kw))
    assert out.status[0][0] in ("fired", "no hits"), out.status
    return out.hits.column("row").to_pylist()


CMD = {"CommandLine": ["cmd /c whoami", "CMD /C WHOAMI", "powershell -nop", "x cmd", None, ""]}


def test_plain_value_is_equality_case_insensitive(tmp_path):
    assert hits(tmp_path, "sel: {CommandLine: 'cmd /c whoami'}", CMD) == [0, 1]


def test_contains_startswith_endswith(tmp_path):
    assert hits(tmp_path, "sel: {CommandLine|contains: 'cmd'}", CMD) == [0, 1, 3]
    assert hits(tmp_path, "sel: {CommandLine|startswith: 'cmd'}", CMD) == [0, 1]
    assert hits(tmp_path, "sel: {CommandLine|endswith: 'cmd'}", CMD) == [3]


def test_wildcards_and_escapes(tmp_path):
    assert hits(tmp_path, "sel: {CommandLine: 'cmd*who?mi'}", CMD) == [0, 1]
    assert hits(tmp_path, "sel: {CommandLine: '*'}", CMD) == [0, 1, 2, 3, 5]
    cols = {"CommandLine": ["a*b", "axb", "a?b", "a\\b"]}
    assert hits(tmp_path, r"sel: {CommandLine: 'a\*b'}", cols) == [0]
    assert hits(tmp_path, r"sel: {CommandLine: 'a\?b'}", cols) == [2]
    assert hits(tmp_path, r"sel: {CommandLine: 'a?b'}", cols) == [0, 1, 2, 3]
    assert hits(tmp_path, r"sel: {CommandLine: 'a\\b'}", cols) == [3]


def test_list_is_or_and_all_is_and(tmp_path):
    assert hits(tmp_path, "sel: {CommandLine|contains: [whoami, nop]}", CMD) == [0, 1, 2]
    assert hits(tmp_path, "sel: {CommandLine|contains|all: [cmd, whoami]}", CMD) == [0, 1]


def test_cased(tmp_path):
    assert hits(tmp_path, "sel: {CommandLine|cased: 'CMD /C WHOAMI'}", CMD) == [1]
    assert hits(tmp_path, "sel: {CommandLine|contains|cased: 'cmd'}", CMD) == [0, 3]


def test_re_and_flags(tmp_path):
    cols = {"CommandLine": ["Abc\nxyz", "abc", "zzz"]}
    assert hits(tmp_path, "sel: {CommandLine|re: 'b.'}", cols) == [0, 1]         # a search
    assert hits(tmp_path, "sel: {CommandLine|re: '^abc$'}", cols) == [1]         # cased
    assert hits(tmp_path, "sel: {CommandLine|re|i: '^abc$'}", cols) == [1]
    assert hits(tmp_path, "sel: {CommandLine|re|i|m: '^abc$'}", cols) == [0, 1]
    assert hits(tmp_path, "sel: {CommandLine|re|s: 'c.x'}", cols) == [0]
    assert hits(tmp_path, "sel: {CommandLine|re: 'c.x'}", cols) == []


def test_re_dollar_is_the_end_of_the_value_not_before_a_final_newline(tmp_path):
    """A documented difference from Python's re (docs/sigma.md, Values): RE2's $."""
    cols = {"CommandLine": ["abc\n", "abc"]}
    assert hits(tmp_path, "sel: {CommandLine|re: 'abc$'}", cols) == [1]
    assert hits(tmp_path, "sel: {CommandLine|re|m: 'abc$'}", cols) == [0, 1]


def test_re_python_fallback_for_what_re2_refuses(tmp_path):
    cols = {"CommandLine": ["foobar", "foobaz", "xbar"]}
    assert hits(tmp_path, "sel: {CommandLine|re: '(?<=foo)bar'}", cols) == [0]
    assert hits(tmp_path, r"sel: {CommandLine|re: '(o)\1'}", cols) == [0, 1]


def test_base64_and_base64offset(tmp_path):
    enc = base64.b64encode(b"whoami /all").decode()
    cols = {"CommandLine": [f"x {enc} y", "whoami /all", f"x{base64.b64encode(b'.whoami /all').decode()}"]}
    assert hits(tmp_path, "sel: {CommandLine|base64|contains: 'whoami /all'}", cols) == [0]
    assert hits(tmp_path, "sel: {CommandLine|base64offset|contains: 'whoami /all'}", cols) == [0, 2]


@pytest.mark.parametrize("mod,prefix,codec", [("utf16le", b"", "utf-16-le"), ("wide", b"", "utf-16-le"),
                                              ("utf16be", b"", "utf-16-be"),
                                              ("utf16", "\ufeff".encode(), "utf-16-le")])
def test_utf16_variants_with_base64(tmp_path, mod, prefix, codec):
    """(pySigma's utf16 puts U+FEFF in front as text, so base64 encodes its UTF-8 bytes
    EF BB BF rather than the UTF-16 BOM FF FE: the engine follows pySigma's value.)"""
    b64 = base64.b64encode(prefix + "iex".encode(codec)).decode()
    cols = {"CommandLine": [f"-enc {b64}", "-enc aWV4"]}
    assert hits(tmp_path, f"sel: {{CommandLine|{mod}|base64|contains: 'iex'}}", cols) == [0]


def test_wide_without_base64_matches_the_utf16_text(tmp_path):
    cols = {"Data": ["i\0e\0x\0", "iex"]}
    assert hits(tmp_path, "sel: {Data|wide|contains: 'iex'}", cols) == [0]


def test_windash(tmp_path):
    cols = {"CommandLine": ["x -enc", "x /enc", "x \u2013enc", "x enc", "x \u2014enc", "x \u2015enc"]}
    assert hits(tmp_path, "sel: {CommandLine|windash|contains: ' -enc'}", cols) == [0, 1, 2, 4, 5]


def test_cidr_v4_v6_and_non_addresses(tmp_path):
    cols = {"DestinationIp": ["10.1.2.3", "11.0.0.1", "10.0.0.", "10.1.2.3x", "fe80::1", None]}
    assert hits(tmp_path, "sel: {DestinationIp|cidr: '10.0.0.0/8'}", cols) == [0]
    assert hits(tmp_path, "sel: {DestinationIp|cidr: 'fe80::/10'}", cols) == [4]
    assert hits(tmp_path, "sel: {DestinationIp|cidr: ['11.0.0.0/8', '10.0.0.0/8']}", cols) == [0, 1]


def test_numbers_compare_and_match_text(tmp_path):
    cols = {"EventID": ["4688", "1", "04688", "x", None], "N": pa.array([4688, 1, 7, 10, None])}
    assert hits(tmp_path, "sel: {EventID: 4688}", cols) == [0, 2]
    assert hits(tmp_path, "sel: {N: 4688}", cols) == [0]
    assert hits(tmp_path, "sel: {N|gt: 7}", cols) == [0, 3]
    assert hits(tmp_path, "sel: {N|gte: 7}", cols) == [0, 2, 3]
    assert hits(tmp_path, "sel: {N|lt: 7}", cols) == [1]
    assert hits(tmp_path, "sel: {N|lte: 7}", cols) == [1, 2]
    assert hits(tmp_path, "sel: {EventID|lt: 10}", cols) == [1]


def test_neq_negates_the_item(tmp_path):
    """pySigma's neq is "not (field = value)": an absent value is not equal."""
    cols = {"N": pa.array([4688, 1, None])}
    assert hits(tmp_path, "sel: {N|neq: 1}", cols) == [0, 2]


def test_null_is_absent_or_empty_and_exists(tmp_path):
    assert hits(tmp_path, "sel: {CommandLine: null}", CMD) == [4, 5]
    assert hits(tmp_path, "sel: {CommandLine|exists: true}", CMD) == [0, 1, 2, 3, 5]
    assert hits(tmp_path, "sel: {CommandLine|exists: false}", CMD) == [4]
    assert hits(tmp_path, "sel: {Nowhere|exists: false}", CMD) == [0, 1, 2, 3, 4, 5]
    assert hits(tmp_path, "sel: {Nowhere: null}", CMD) == [0, 1, 2, 3, 4, 5]


def test_fieldref_and_its_variants(tmp_path):
    cols = {"A": ["abc", "ABC", "abcdef", "xabc", None], "B": ["abc", "abc", "abc", "abc", "abc"]}
    assert hits(tmp_path, "sel: {A|fieldref: B}", cols) == [0, 1]
    assert hits(tmp_path, "sel: {A|fieldref|startswith: B}", cols) == [0, 1, 2]
    assert hits(tmp_path, "sel: {A|fieldref|endswith: B}", cols) == [0, 1, 3]
    assert hits(tmp_path, "sel: {A|fieldref|contains: B}", cols) == [0, 1, 2, 3]


def test_bool_value(tmp_path):
    cols = {"Initiated": ["true", "false", "True", "1", None]}
    assert hits(tmp_path, "sel: {Initiated: true}", cols) == [0, 2, 3]
    assert hits(tmp_path, "sel: {Initiated: false}", cols) == [1]


def test_keywords_search_the_keyword_columns(tmp_path):
    cols = {"CommandLine": ["a MimiKatz b", "x", "y"], "Image": ["n", "mimikatz.exe", "z"]}
    got = hits(tmp_path, "sel: [mimikatz, 'sekurlsa::*']", cols, kw=["CommandLine", "Image"])
    assert got == [0, 1]
    got = hits(tmp_path, "sel: [mimikatz]", cols, kw=["Image"])
    assert got == [1]


def test_not_and_null_rows(tmp_path):
    det = "sel: {CommandLine|contains: cmd}\nfilter: {Image|endswith: '\\\\x.exe'}"
    cols = {"CommandLine": ["cmd", "cmd", "cmd"], "Image": [None, "c:\\x.exe", "c:\\y.exe"]}
    assert hits(tmp_path, det, cols, condition="sel and not filter") == [0, 2]


def test_expand_and_timestamp_parts_are_skipped_with_a_reason(tmp_path):
    rs = rule(tmp_path, "sel: {CommandLine|expand: '%admins%'}")
    assert rs.rules == [] and "placeholder %admins%" in rs.skipped[0].reason
    rs = rule(tmp_path, "sel: {ts|hour: 3}")
    assert rs.rules == [] and "timestamp part" in rs.skipped[0].reason
