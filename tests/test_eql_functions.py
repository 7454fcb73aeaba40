"""EQL's operators and functions (issue 14): wildcards (like, :, wildcard()), cidr_match,
numbers in raw text, columns in in (…), and the functions of edrql/fnlib/eqlfuncs.py —
against reference answers (Python's own re/ipaddress, EQL's documented semantics), with
null handling, case-insensitivity, and dictionary-coded columns giving the plain answer."""
from __future__ import annotations

import ipaddress
import random
import re

import pyarrow as pa
import pytest

from edrql import expr as X
from edrql.errors import ParseError, QueryError
from edrql.expr import Evaluator, Scope
from edrql.fnlib import cidr
from edrql.fnlib.eqlfuncs import like_pred, wildcard_regex
from edrql.functions import FUNCTIONS, OPERATORS
from edrql.parse import parse

NAMES = ["cmd.exe", "CMD.EXE", "Cmd.Exe", "", None, "powershell.exe", "pwsh.exe", "a%b_c.exe",
         "C:\\Windows\\cmd.exe", "line\nbreak.exe", "ÇMD.exe", "çmd.exe", "x?y*z"]
IPS = ["10.1.2.3", "10.255.255.255", "11.0.0.0", "192.168.4.4", "::ffff:10.0.0.9", "::1",
       "2001:db8::5", "2001:DB8:0:0:1::", "fe80::1%eth0", "", None, "nope", "10.0.0", "1.2.3.4.5"]


def _cond(q):
    return parse(f"t | where {q}")[0].stages[0].expr


def _eval(table, q):
    out = Evaluator(table, Scope()).eval(_cond(q))
    return out.to_pylist() if hasattr(out, "to_pylist") else [out.as_py()] * table.num_rows


def _tables(col, values):
    plain = pa.table({col: pa.array(values, pa.string())})
    coded = pa.table({col: pa.array(values, pa.string()).dictionary_encode()})
    return plain, coded


def _ref_like(value, pattern, cs=False):
    """Reference wildcard match with Python's re (not RE2): * any run, ? one character."""
    if value is None:
        return False
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S | (0 if cs else re.I)) is not None


# ---------------------------------------------------------------- wildcards
@pytest.mark.parametrize("pattern", ["cmd*", "*.EXE", "c?d.exe", "*", "?", "", "a%b_c.exe",
                                     "a%b?c*", r"C:\Windows\*", "line*break*", "x?y*z", "ç*",
                                     "*md.e?e"])
@pytest.mark.parametrize("cs", [False, True])
def test_like_matches_the_reference(pattern, cs):
    got = like_pred([pattern], cs)(pa.array(NAMES, pa.string())).to_pylist()
    want = [None if v is None else _ref_like(v, pattern, cs) for v in NAMES]
    assert got == want


def test_wildcard_regex_keeps_regex_characters_literal():
    rx = wildcard_regex(["a.b(c)[d]+$^|{1}\\"])
    values = pa.array(["a.b(c)[d]+$^|{1}\\", "aXb(c)[d]+$^|{1}\\", "a.b(c)[d]+$^|{1}"])
    assert like_pred(["a.b(c)[d]+$^|{1}\\"])(values).to_pylist() == [True, False, False]
    assert rx.startswith("(?s)^") and rx.endswith("$")


def test_like_fuzz_against_python_re():
    rnd = random.Random(14)
    alphabet = "aAbB.*?%_\\\nç"
    values = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 6))) for _ in range(300)]
    for _ in range(60):
        p = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 4)))
        got = like_pred([p])(pa.array(values)).to_pylist()
        assert got == [_ref_like(v, p) for v in values], p


@pytest.mark.parametrize("q", [
    'name like "cmd*"', 'name !like "cmd*"', 'name like_cs "cmd*"', 'name !like_cs "cmd*"',
    'name : "*.exe"', 'name : ("cmd*", "p*")', 'name like ("CMD.EXE", "*\\\\cmd.exe")',
    'name !like ("c*", "?")', 'name : "*"', 'wildcard(name, "c?d.*", "pwsh*")',
    'startsWith(name, "CMD")', 'endsWith(name, ".EXE")', 'stringContains(name, "MD")',
    'not (name : "p*")', 'match(name, "c.d")', 'name : 5', 'name like ""',
    'indexOf(name, "EXE") == 4', 'isnull(indexOf(name, "md", 2))', 'between(name, "c", ".") == "md"',
])
def test_coded_column_gives_the_plain_answer(q):
    plain, coded = _tables("name", NAMES)
    assert _eval(coded, q) == _eval(plain, q)


def test_like_operators_on_a_coded_column_never_decode_it(monkeypatch):
    decoded = []
    real = X._decode
    monkeypatch.setattr(X, "_decode", lambda col: decoded.append(len(col)) or real(col))
    _, coded = _tables("name", NAMES * 10)
    for q in ('name like "cmd*"', 'name : ("cmd*", "p*")', 'wildcard(name, "cmd*")',
              'cidr_match(name, "10.0.0.0/8")', 'startsWith(name, "c")'):
        _eval(coded, q)
    assert decoded == []


def test_like_is_case_insensitive_and_like_cs_is_not():
    plain, _ = _tables("name", NAMES)
    assert _eval(plain, 'name like "cmd.exe"')[:3] == [True, True, True]
    assert _eval(plain, 'name like_cs "cmd.exe"')[:3] == [True, False, False]
    assert _eval(plain, 'name : "CMD.EXE"')[:3] == [True, True, True]


def test_a_missing_value_matches_no_pattern():
    plain, coded = _tables("name", [None, "", "a"])
    for t in (plain, coded):
        assert _eval(t, 'name : "*"') == [False, True, True]
        assert _eval(t, 'name !like "*"') == [True, False, False]
        assert _eval(t, 'wildcard(name, "*")') == [False, True, True]
    # the other text operators read a missing text as "": not so for like
    assert _eval(plain, 'name !contains "a"') == [True, True, False]


def test_like_list_with_one_parenthesised_pattern_and_from_a_let():
    plain, _ = _tables("name", NAMES)
    assert _eval(plain, 'name like ("cmd*")') == _eval(plain, 'name like "cmd*"')
    cond = _cond('name like (pats, "pwsh*")')
    scope = Scope(lets={"pats": pa.scalar(["cmd*"], pa.list_(pa.string()))})
    got = Evaluator(plain, scope).eval(cond).to_pylist()
    assert got == [_ref_like(v, "cmd*") or _ref_like(v, "pwsh*") for v in NAMES]


def test_like_pattern_from_a_let_text():
    plain, _ = _tables("name", NAMES)
    scope = Scope(lets={"p": pa.scalar("cmd*")})
    assert Evaluator(plain, scope).eval(_cond("name like p")).to_pylist() == \
        _eval(plain, 'name like "cmd*"')


def test_like_patterns_must_be_constants(example_case):
    from edrql.query import execute_text, make_context
    with pytest.raises(QueryError, match="must hold constants"):
        execute_text(make_context(example_case), 'events | where name like (pname, "a*")')
    with pytest.raises(QueryError, match="must be a constant"):
        execute_text(make_context(example_case), "events | where name like pname")


def test_many_patterns_chunk_into_several_regexes():
    pats = [f"p{i}*" for i in range(1200)] + ["cmd*"]
    assert like_pred(pats)(pa.array(["p1199x", "cmd.exe", "q"])).to_pylist() == [True, True, False]


# ---------------------------------------------------------------- cidr
def _ref_cidr(v, nets):
    if v is None:
        return False
    try:
        a = ipaddress.ip_address(v.split("%")[0])
    except ValueError:
        return False
    if a.version == 6 and a.ipv4_mapped and any(a.ipv4_mapped in n for n in nets if n.version == 4):
        return True
    return any(a in n for n in nets if n.version == a.version)


@pytest.mark.parametrize("ranges", [["10.0.0.0/8"], ["10.0.0.0/8", "2001:db8::/32"], ["::/0"],
                                    ["0.0.0.0/0"], ["2001:db8::/31"], ["192.168.4.4/32"],
                                    ["fe80::/10", "::1/128"], ["10.1.2.3/8"]])
def test_cidr_match_is_ipaddress(ranges):
    nets = [ipaddress.ip_network(r, strict=False) for r in ranges]
    got = cidr.in_ranges(pa.array(IPS, pa.string()), cidr.parse_ranges(ranges, "t")).to_pylist()
    assert got == [_ref_cidr(v, nets) for v in IPS]


def test_cidr_fuzz_against_ipaddress():
    rnd = random.Random(7)
    vals = []
    for _ in range(400):
        if rnd.random() < 0.5:
            vals.append(".".join(str(rnd.choice([0, 1, 10, 127, 172, 192, 255, 256, rnd.randint(0, 300)]))
                                 for _ in range(4)))
        else:
            a = ipaddress.IPv6Address(rnd.getrandbits(128) if rnd.random() < 0.5 else
                                      (0x20010db8 << 96) | rnd.getrandbits(rnd.choice([8, 40, 90])))
            vals.append(a.compressed if rnd.random() < 0.5 else a.exploded)
    ranges = ["10.0.0.0/8", "192.0.0.0/3", "2001:db8::/32", "2001:db8:0:0:8000::/65", "8000::/1"]
    nets = [ipaddress.ip_network(r) for r in ranges]
    got = cidr.in_ranges(pa.array(vals), cidr.parse_ranges(ranges, "t")).to_pylist()
    assert got == [_ref_cidr(v, nets) for v in vals]


def test_cidr_on_a_coded_column_and_its_aliases():
    plain, coded = _tables("ip", IPS)
    q = 'cidr_match(ip, "10.0.0.0/8", "2001:db8::/32")'
    assert _eval(coded, q) == _eval(plain, q)
    assert _eval(plain, q.replace("cidr_match", "cidrMatch")) == _eval(plain, q)
    assert _eval(plain, 'ipv4_is_in_range(ip, "10.0.0.0/8")') == \
        [v is not None and _ref_cidr(v, [ipaddress.ip_network("10.0.0.0/8")]) for v in IPS]
    assert _eval(plain, 'ipv4_is_in_range(ip, "192.168.4.4")')[3] is True      # an address: /32


@pytest.mark.parametrize("q,msg", [
    ('cidr_match(raddr, "10.0.0/8")', "not a CIDR range"),
    ('cidr_match(raddr, "10.0.0.0")', "not a CIDR range"),
    ('cidrMatch(raddr, "10.0.0.0/8", "x")', "'x' is not a CIDR range"),
    ('ipv4_is_in_range(raddr, "::/0")', "not an IPv4 range"),
    ('cidr_match(ts, "10.0.0.0/8")', "needs text"),
])
def test_cidr_range_errors_before_running(example_case, q, msg):
    from edrql.query import execute_text, make_context
    with pytest.raises(QueryError, match=msg) as ei:
        execute_text(make_context(example_case), f"events | where {q}")
    assert ei.value.pos is not None


# ---------------------------------------------------------------- numbers in raw text
def test_text_compared_with_a_number_is_numeric():
    t = pa.table({"x": pa.array(["4", "10", "0x10", "abc", None, "9", " 7"], pa.string())})
    assert _eval(t, "x > 5")[:6] == [False, True, True, None, None, True]
    assert _eval(t, "x == 4")[:5] == [True, False, False, False, False]
    assert _eval(t, "x between (5 .. 16)")[:4] == [False, True, True, None]
    assert _eval(t, "x in (9, 16)")[:6] == [False, False, True, False, False, True]
    assert _eval(t, 'x == "0x10"')[2] is True and _eval(t, 'x == "16"')[2] is False   # text
    assert _eval(t, "x != 4")[3] is True                    # not a number: unequal (KQL's !=)
    coded = pa.table({"x": t.column("x").combine_chunks().dictionary_encode()})
    for q in ("x > 5", "x == 4", "x between (5 .. 16)", "x in (9, 16)", "x != 4"):
        assert _eval(coded, q) == _eval(t, q)


# ---------------------------------------------------------------- columns in in (…)
def test_columns_in_the_list_of_in():
    t = pa.table({"name": ["a.exe", "B.EXE", None, "c", None],
                  "pname": ["A.EXE", "x", "y", None, None],
                  "lport": [445, 1, None, 3, 445], "rport": [2, 445, 445, None, None]})
    assert _eval(t, 'name in (pname, "b.exe")') == [True, True, False, False, True]
    assert _eval(t, 'name in_cs (pname, "b.exe")') == [False, False, False, False, True]
    assert _eval(t, 'name !in (pname, "b.exe")') == [False, False, True, True, False]
    assert _eval(t, "445 in (lport, rport)") == [True, True, True, False, True]
    assert _eval(t, "445 !in (lport, rport)") == [False, False, False, True, False]
    assert _eval(t, '"b.exe" in (name, pname)') == [False, True, False, False, False]
    coded = pa.table({c: (t.column(c).combine_chunks().dictionary_encode()
                          if pa.types.is_string(t.schema.field(c).type) else t.column(c))
                      for c in t.column_names})
    for q in ('name in (pname, "b.exe")', 'name !in (pname)', '"b.exe" in (name, pname)'):
        assert _eval(coded, q) == _eval(t, q)


def test_in_with_a_column_matches_or_of_equalities():
    t = pa.table({"a": ["x", "Y", None, "z"], "b": ["X", None, None, "q"], "c": ["1", "y", "", "z"]})
    assert _eval(t, "a in (b, c)") == [x or y for x, y in zip(_eval(t, "a == b"), _eval(t, "a == c"))]


# ---------------------------------------------------------------- functions
def _fn(q, table=None):
    t = table if table is not None else pa.table({"d": [0]})
    out = Evaluator(t, Scope()).eval(parse(f"t | extend v = {q}")[0].stages[0].items[0].expr)
    return out.as_py() if isinstance(out, pa.Scalar) else out.to_pylist()


@pytest.mark.parametrize("q,want", [
    ('length("héllo")', 5), ("length(split(\"a,b,c\", \",\"))", 3), ("length(null)", None),
    ('indexOf("Hello", "L")', 2), ('indexOf("Hello", "z")', None), ('indexOf("Hello", "l", 3)', 3),
    ('indexOf("ÉaBc", "b")', 2), ('indexof("Hello", "L")', -1),
    ('number("42")', 42), ('number("-0x10")', -16), ('number("1.5")', 1.5), ('number("x")', None),
    ('number("ff", 16)', 255), ('number("0xff", 16)', 255), ('number("101", 2)', 5),
    ('number("0x10", 10)', None), ('number(null)', None),
    ("string(true)", "true"), ("string(12)", "12"), ("string(null)", None),
    ("add(2, 3)", 5), ("subtract(2, 3)", -1), ("multiply(2.5, 2)", 5.0), ("divide(7, 2)", 3),
    ("divide(-7, 2)", -4), ("divide(7.0, 2)", 3.5), ("divide(1, 0)", None), ("modulo(-7, 3)", 2),
    ("modulo(7, -3)", -2), ("modulo(7, 0)", None), ("modulo(-7.5, 2)", 0.5), ("abs(-4)", 4),
    ("add(null, 1)", None),
    ('concat("a", 1, true)', "a1true"), ('concat("a", null)', None),
    ('startsWith("PowerShell", "power")', True), ('endsWith("a.EXE", ".exe")', True),
    ('stringContains("PowerShell", "ERSH")', True), ("stringContains(null, \"a\")", False),
    ("startsWith(null, \"a\")", None),
    ('between("a=1; b=2; c", "=", ";")', "1"), ('between("a=1; b=2; c", "=", ";", true)', "1; b=2"),
    ('between("KEY=1;", "key=", ";")', "1"), ('between("KEY=1;", "key=", ";", false, true)', None),
    ('between("abc", "x", "c")', None),
    ('array_contains(split("a\\\\B\\\\c", "\\\\"), "b")', True),
    ('array_contains(split("a,b", ","), "z", "A")', True),
    ('array_contains(split("a,b", ","), "z")', False),
    ('array_count(split("a,A,b", ","), "a")', 2),
    ('wildcard("PowerShell.exe", "power*")', True), ('wildcard(null, "*")', False),
    ('cidr_match("10.1.1.1", "10.0.0.0/8")', True), ('cidr_match(null, "10.0.0.0/8")', False),
    ('safe(number("12"))', 12), ("safe(add(9223372036854775807, 1))", None),
    # EQL's own examples (etc/test_string_functions.toml), re-expressed
    ('between("welcome to the planet", "welcome", "planet")', " to the "),
    ('between("welcome to the planet", "welcome", "e", true)', " to the plan"),
    ('between("welcome to the planet", "", "", true)', "welcome to the planet"),
    ('between("welcome to the planet", "", "", false)', ""),
    ('between("welcome to the planet", "", "x", true)', None),
    ('between(null, "welcome", "planet")', None),
    ('concat("a", "||", 1, "||", "b")', "a||1||b"), ("concat(null, null)", None),
    ('indexOf("foobarbaz", "o", null)', 1), ('indexOf("foobarbaz", "z", 9)', None),
    ('number("052403", 8)', 21763), ('number("52403", 7)', 12890), ('number("zz", 36)', 1295),
    ('number("0x1337", 16)', 4919), ('number("-3.14", 10)', -3.14),
    ('match("foo", "[a-z]{3}")', True), ('match("999", "[a-z]{3}", "[0-9]{5}")', False),
    ('match("999", "[a-z]{3}", "[0-9]{5}", "[9][9][9]")', True), ('match("xfoo", "foo")', False),
    ('match("FOO", "foo")', True), ('match(null, "a")', None), ('matchLite("foo\\nbar", "foo.bar")', True),
])
def test_function_values(q, want):
    got = _fn(q)
    assert (got[0] if isinstance(got, list) else got) == want


def test_safe_cannot_hide_check_errors(example_case):
    from edrql.query import execute_text, make_context
    ctx = make_context(example_case)
    with pytest.raises(QueryError, match="unknown field"):
        execute_text(ctx, "events | extend x = safe(nosuchfield)")
    with pytest.raises(QueryError, match="overflow"):
        execute_text(ctx, "events | take 1 | extend x = add(9223372036854775807, 1)")
    out = execute_text(ctx, "events | take 2 | extend x = safe(add(9223372036854775807, 1))")
    assert out[-1].table.column("x").to_pylist() == [None, None]


def test_functions_check_argument_kinds(example_case):
    from edrql.query import execute_text, make_context
    ctx = make_context(example_case)
    for q, msg in [("add(name, 1)", "add()"), ("length(ts)", "length()"),
                   ("array_contains(name, \"a\")", "array_contains()"),
                   ("indexOf(name, \"a\", \"x\")", "indexOf()"),
                   ("between(name, \"a\", \"b\", 5)", "between()"), ("number(pid)", "number()"),
                   ('match(name, "(")', "bad regular expression")]:
        with pytest.raises(QueryError, match=re.escape(msg)) as ei:
            execute_text(ctx, f"events | extend x = {q}")
        assert ei.value.pos is not None and ei.value.pos.column > 20


def test_function_columns_with_nulls():
    t = pa.table({"s": ["Hello", None, "x"], "n": ["10", None, "0x1f"]})
    assert _fn("length(s)", t) == [5, None, 1]
    assert _fn('indexOf(s, "l")', t) == [2, None, None]
    assert _fn("number(n)", t) == [10, None, 31]
    assert _fn('concat(s, "-")', t) == ["Hello-", None, "x-"]
    assert _fn('between(s, "h", "o")', t) == ["ell", None, None]
    assert _fn('startsWith(s, "HE")', t) == [True, None, False]
    assert _fn('stringContains(s, "X")', t) == [False, False, True]


def test_a_column_of_decimals_is_float():
    t = pa.table({"n": ["1", "2.5", "x"]})
    assert _fn("number(n)", t) == [1.0, 2.5, None]


def test_eql_names_are_declared_once_and_case_sensitive():
    assert FUNCTIONS["indexOf"].impl is not FUNCTIONS["indexof"].impl
    assert FUNCTIONS["cidrMatch"].returns == FUNCTIONS["cidr_match"].returns == "bool"
    for op in ("like", "!like", "like_cs", "!like_cs", ":"):
        assert op in OPERATORS
    assert "IndexOf" not in FUNCTIONS


def test_the_search_in_columns_keyword_still_works(example_case):
    from edrql.query import execute_text, make_context
    ctx = make_context(example_case)
    n = execute_text(ctx, 'events | search "whoami" in (cmdline) | count')[-1].table
    assert n.column(0)[0].as_py() >= 1
    with pytest.raises(ParseError, match="search takes"):
        execute_text(ctx, 'events | search "whoami" !in (cmdline)')


# ---------------------------------------------------------------- array_count(list, x, cond)
def test_lambda_forms_count_and_search_per_row():
    t = pa.table({"p": ["C:\\Temp\\a\\TEMP\\x.exe", "C:\\Users\\b.exe", "x", None],
                  "name": ["x.exe", "nope", "x", "q"]})
    parts = 'split(p, "\\\\")'
    assert _fn(f'arrayCount({parts}, e, e like "t*")', t) == [2, 0, 0, 0]
    assert _fn(f'array_count({parts}, e, e == name)', t) == [1, 0, 1, 0]      # reads the row
    assert _fn(f'arraySearch({parts}, e, e : "*.exe")', t) == [True, True, False, False]
    assert _fn(f'array_search({parts}, e, length(e) > 4)', t) == [True, True, False, False]
    # the reference: a Python loop over the same lists
    lists = [None if v is None else v.split("\\") for v in t.column("p").to_pylist()]
    assert _fn(f'array_count({parts}, e, e like "*e*")', t) == \
        [0 if ls is None else sum("e" in x.lower() for x in ls) for ls in lists]


def test_lambda_form_errors(example_case):
    from edrql.query import execute_text, make_context
    ctx = make_context(example_case)
    for q, msg in [('arrayCount(name, e, e == "a")', "needs a list"),
                   ('arrayCount(split(name, "."), e.x, e == "a")', "plain name"),
                   ('arrayCount(split(name, "."), e, 5)', "needs a condition"),
                   ('arrayCount(split(name, "."), e, e)', "needs a condition")]:
        with pytest.raises(QueryError, match=msg):
            execute_text(ctx, f"events | take 3 | extend n = {q}")
