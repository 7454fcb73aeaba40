"""Parsed queries kept between one-shot runs (edrql/parsecache.py): the same statements as
the parser's, no Lark imported when the text was parsed before, errors always from the
parser, and any trouble with the cache parses as before."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edrql import parsecache
from edrql.errors import ParseError
from edrql.parse import parse

ROOT = Path(__file__).resolve().parents[1]

QUERIES = [
    'events | where name == "cmd.exe" | stats count() by host',
    'procs | where host == "pc-1" and pid == 4 and start between ("2024-01-01" .. "2024-01-02") | tree()',
    "let x = 5m; events | where ts > ago(1h) | summarize n = count() by bin(ts, 1h), host | sort by n desc",
    'DeviceProcessEvents | where ProcessCommandLine has "-enc" | project Timestamp, DeviceName | take 5',
    'search "x" or "y" | count',
    'events | where pid in (1, 2, 3) | extend y = strcat("a", name) | top 5 by ts',
]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(parsecache, "_loaded", {})
    return tmp_path / "xdg" / "edrql" / "parsed"


@pytest.mark.parametrize("text", QUERIES)
def test_kept_statements_equal_the_parsers(cache, text, monkeypatch):
    first = parsecache.statements(text)
    assert first == parse(text) and len(list(cache.glob("*.ast"))) == 1
    monkeypatch.setattr(parsecache, "_loaded", {})            # as a later process would
    again = parsecache.cached(text)
    assert again == parse(text) and again is not first
    assert parsecache.cached(text) is not again               # each caller its own copy


def test_text_that_does_not_parse_is_never_kept(cache):
    for _ in range(2):
        with pytest.raises(ParseError) as e:
            parsecache.statements("events | where (")
        assert e.value.line == 1
    assert list(cache.glob("*.ast")) == []


def test_a_damaged_or_foreign_file_parses_as_before(cache, monkeypatch):
    text = QUERIES[0]
    parsecache.statements(text)
    [path] = cache.glob("*.ast")
    for junk in (b"", b"not a pickle", b"\x80\x05K\x05."):        # the last: the int 5
        path.write_bytes(junk)
        monkeypatch.setattr(parsecache, "_loaded", {})
        assert parsecache.cached(text) is None
        assert parsecache.statements(text) == parse(text)


def test_the_key_follows_the_grammar_and_the_text(cache, monkeypatch):
    p1 = parsecache._path(QUERIES[0])
    assert p1 != parsecache._path(QUERIES[0] + " ") and p1 == parsecache._path(QUERIES[0])
    import edrql.grammarfile as g
    monkeypatch.setattr(parsecache, "_key_cache", [])
    monkeypatch.setattr(g, "grammar_text", lambda: "start: other grammar")
    assert parsecache._path(QUERIES[0]) != p1


def test_no_cache_folder_still_parses(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(parsecache, "_loaded", {})
    assert parsecache.folder() is None
    assert parsecache.statements(QUERIES[0]) == parse(QUERIES[0])


def test_a_folder_others_may_write_is_not_used(cache):
    parsecache.statements(QUERIES[0])
    os.chmod(cache, 0o777)
    try:
        assert parsecache.folder() is None and parsecache._path(QUERIES[0]) is None
        parsecache._loaded.clear()
        assert parsecache.cached(QUERIES[0]) is None
        assert parsecache.statements(QUERIES[0]) == parse(QUERIES[0])
    finally:
        os.chmod(cache, 0o700)
    assert parsecache.folder() == str(cache)


def test_the_folder_is_pruned_to_its_newer_half(cache, monkeypatch):
    monkeypatch.setattr(parsecache, "MAX_FILES", 4)
    texts = [f"events | take {i}" for i in range(5)]
    for i, t in enumerate(texts):
        parsecache.statements(t)
        if i < 4:
            os.utime(parsecache._path(t), (1000 + i, 1000 + i))
    left = {p.name for p in cache.glob("*.ast")}
    assert len(left) == 3 and os.path.basename(parsecache._path(texts[4])) in left
    assert os.path.basename(parsecache._path(texts[0])) not in left


#: cli.main on argv[1:], then whether Lark was imported (on standard error)
PROBE = """
import json, sys
import edrql.cli
rc = edrql.cli.main(sys.argv[1:])
sys.stdout.flush()
print("\\nLARK " + json.dumps("lark" in sys.modules), file=sys.stderr)
sys.exit(rc)
"""


def _cli(*argv, cache_home):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                       env=env, cwd=str(ROOT), timeout=120)
    err, _, lark = p.stderr.rpartition("\nLARK ")
    return p.returncode, p.stdout, err, json.loads(lark) if lark else None


def test_a_second_one_shot_run_imports_no_lark_and_answers_the_same(example_case, tmp_path):
    q = 'events | where name == "cmd.exe" | stats count() by host | sort by host'
    first = _cli(example_case.root, "-c", q, cache_home=tmp_path)
    second = _cli(example_case.root, "-c", q, cache_home=tmp_path)
    assert first[0] == second[0] == 0 and first[1] == second[1] and first[1].count("\n") > 1
    assert first[3] is True and second[3] is False
    bad = 'events | where name == "cmd.exe'
    for _ in range(2):              # a mistake: the parser's message every time
        rc, out, err, lark = _cli(example_case.root, "-c", bad, cache_home=tmp_path)
        assert rc == 1 and out == "" and err.startswith("edrql: line 1, column") and lark is True


def test_a_kept_file_naming_another_class_is_not_loaded(tmp_path, monkeypatch):
    """Only edrql.ast classes are built from the cache: a planted pickle that would run
    other code is refused and the text is parsed as usual."""
    import pickle
    from edrql import parsecache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = 'events | where name == "planted"'
    assert parsecache.statements(text)            # parsed and kept
    path = parsecache._path(text)
    assert path and os.path.exists(path)
    parsecache._loaded.clear()

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))
    with open(path, "wb") as fh:
        fh.write(pickle.dumps([Evil()]))
    assert parsecache.cached(text) is None
    assert not (tmp_path / "pwned").exists()
    assert parsecache.statements(text)[0].source.name == "events"


def test_key_follows_the_node_classes_this_process_loaded(monkeypatch):
    """A process that imported edrql before its files changed keeps its trees under a key
    of the classes it really has: a changed class layout gives another key."""
    from edrql import ast as A, parsecache
    monkeypatch.setattr(parsecache, "_key_cache", [])
    before = parsecache._code_key()
    monkeypatch.setattr(parsecache, "_key_cache", [])
    monkeypatch.setitem(A.Where.__dict__["__annotations__"], "extra_field", "int")
    after = parsecache._code_key()
    assert before and after and before != after
