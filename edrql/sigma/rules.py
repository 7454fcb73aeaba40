"""Sigma rules: read with pySigma, compile each rule's condition into edrql's own form.

pySigma parses the YAML, applies the modifiers (contains/startswith/endswith as wildcards,
base64/base64offset/utf16*/wide/windash as value transforms, ``all`` as AND-linking, ``re``
with its flags, ``cidr``, ``exists``, ``fieldref``, lt/lte/gt/gte/neq, ``cased``) and builds
the postprocessed condition tree; this module turns that tree into small picklable tuples
the engine runs (see ``_compile``). A rule that pySigma rejects, or that holds a value the
engine cannot run, is a :class:`Skipped` with a one-line reason — never a silent no-op.

Compiled conditions (``Rule.cond``) are nested tuples:
``("and", (c, …))``, ``("or", (c, …))``, ``("not", c)``, ``("t", i)`` (test ``Rule.tests[i]``),
``("const", bool)``. A :class:`Test` holds one field (None: keyword) and one value test.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

LEVELS = ("informational", "low", "medium", "high", "critical")
_ATTACK_ID = re.compile(r"^t\d{4}(\.\d{3})?$", re.I)
CACHE_FORMAT = 2


@dataclass(frozen=True)
class LogSource:
    category: str | None
    product: str | None
    service: str | None


@dataclass(frozen=True)
class Test:
    """One value test on one field. ``op`` and ``arg``:

    - ``"glob"``: arg = tuple of parts, each a literal str or ``"*"``/``"?"`` wildcards as the
      1-tuples ``("*",)``/``("?",)``; ``cased`` picks case-sensitive matching
    - ``"re"``: arg = (pattern, flags str of "ims")
    - ``"cidr"``: arg = network text
    - ``"cmp"``: arg = (op in lt/lte/gt/gte/neq, number)
    - ``"num"``: arg = number (equals: the value's number, or its text)
    - ``"bool"``: arg = True/False
    - ``"null"``: field absent, null or empty
    - ``"exists"``: arg = bool
    - ``"fieldref"``: arg = (other field, "eq"|"startswith"|"endswith"|"contains")
    """
    field: str | None
    op: str
    arg: object = None
    cased: bool = False


@dataclass(frozen=True)
class Correlation:
    type: str                      # event_count | value_count | temporal | temporal_ordered
    rules: tuple[str, ...]         # referenced rules, by name or id as written
    timespan: int                  # seconds
    group_by: tuple[str, ...]
    op: str                        # lt lte gt gte eq neq
    count: int
    field: str | None              # value_count's field
    aliases: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()   # alias → ((rule ref, field), …)
    generate: bool = False         # the rule's `generate:` (the referenced rules' own hits wanted)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    author: str
    level: str
    status: str
    path: str
    tags: tuple[str, ...]
    attack: tuple[str, ...]
    logsource: LogSource
    fields: frozenset[str]
    kind: str
    name: str | None
    cond: tuple = ("const", False)
    tests: tuple[Test, ...] = ()
    correlation: Correlation | None = None


@dataclass(frozen=True)
class Skipped:
    path: str
    id: str | None
    title: str | None
    author: str | None
    level: str | None
    reason: str


@dataclass
class RuleSet:
    rules: list[Rule]
    skipped: list[Skipped]
    files: int


class Unsupported(Exception):
    """A value or construct the engine cannot run (the message is the Skipped reason)."""


# ---------------------------------------------------------------- loading

def rule_files(paths: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(q for q in path.rglob("*") if q.suffix in (".yml", ".yaml") and q.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"no such rule file or folder: {p}")
    return out


def load(paths: Sequence[str], *, level: str | None = None, tags: Sequence[str] = (),
         cache: bool = True) -> RuleSet:
    """Rules from files and folders (recursive *.yml/*.yaml), compiled; see the module doc."""
    if level is not None and level.lower() not in LEVELS:
        raise ValueError(f"unknown level {level!r}: one of {', '.join(LEVELS)}")
    files = rule_files(paths)
    rs = _cached(files) if cache else None
    if rs is None:
        rs = _load_files(files)
        if cache:
            _store(files, rs)
    return filter_rules(rs, level=level, tags=tags)


def filter_rules(rs: RuleSet, *, level: str | None = None, tags: Sequence[str] = ()) -> RuleSet:
    rules = rs.rules
    if level is not None:
        floor = LEVELS.index(level.lower())
        rules = [r for r in rules if r.level in LEVELS and LEVELS.index(r.level) >= floor]
    if tags:
        want = [_norm_tag(t) for t in tags]
        rules = [r for r in rules if any(_tag_match(_norm_tag(t), w) for t in r.tags for w in want)]
    return RuleSet(rules, list(rs.skipped), rs.files)


def _norm_tag(t: str) -> str:
    t = t.strip().lower()
    return t[len("attack."):] if t.startswith("attack.") else t


def _tag_match(tag: str, want: str) -> bool:
    return tag == want or (bool(_ATTACK_ID.match(want)) and tag.startswith(want + "."))


def _load_files(files: list[Path]) -> RuleSet:
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    _spec_aliases()
    rules: list[Rule] = []
    skipped: list[Skipped] = []
    for f in files:
        try:
            coll = SigmaCollection.from_yaml(f.read_text(encoding="utf-8"), collect_errors=True,
                                             resolve_references=False)
        except Exception as e:                              # YAML or structure pySigma refuses
            skipped.append(Skipped(str(f), None, None, None, None, _one_line(e)))
            continue
        known = {_one_line(e) for r in coll.rules for e in r.errors}
        for err in coll.errors:
            if _one_line(err) not in known:
                skipped.append(Skipped(str(f), None, None, None, None, _one_line(err)))
        for r in coll.rules:
            meta = _meta(r, f)
            if r.errors:
                skipped.append(Skipped(str(f), meta["id"], meta["title"], meta["author"],
                                       meta["level"], _one_line(r.errors[0])))
                continue
            try:
                if isinstance(r, SigmaCorrelationRule):
                    rules.append(_correlation(r, meta))
                elif isinstance(r, SigmaRule):
                    rules.append(_detection(r, meta))
                else:
                    raise Unsupported(f"{type(r).__name__} is not a rule edrql runs")
            except Exception as e:   # Unsupported, or a pySigma error raised while postprocessing
                skipped.append(Skipped(str(f), meta["id"], meta["title"], meta["author"],
                                       meta["level"], _one_line(e)))
    return RuleSet(rules, skipped, len(files))


def _spec_aliases() -> None:
    """The specification's ``utf16le`` is pySigma's ``wide`` (pySigma 1.5 knows only the
    latter): registered once as the same modifier."""
    from sigma import modifiers
    if "utf16le" not in modifiers.modifier_mapping:
        modifiers.modifier_mapping["utf16le"] = modifiers.SigmaWideModifier


def _one_line(e: object) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def _meta(r, f: Path) -> dict:
    lvl = getattr(r, "level", None)
    st = getattr(r, "status", None)
    tags = tuple(str(t) for t in (r.tags or ()))
    attack = tuple(dict.fromkeys(t.name.upper() for t in (r.tags or ())
                                 if t.namespace == "attack" and _ATTACK_ID.match(t.name)))
    return dict(id=str(r.id) if r.id else "", title=r.title or "", author=r.author or "",
                level=lvl.name.lower() if lvl is not None else "",
                status=st.name.lower() if st is not None else "", path=str(f), tags=tags,
                attack=attack, name=r.name)


def _detection(r, meta: dict) -> Rule:
    ls = r.logsource
    conds = r.detection.parsed_condition
    tests: list[Test] = []
    trees = [_compile(c.parsed, tests) for c in conds]
    cond = trees[0] if len(trees) == 1 else ("or", tuple(trees))
    names = set()
    for t in tests:
        if t.field is not None:
            names.add(t.field)
        if t.op == "fieldref":
            names.add(t.arg[0])
    return Rule(**meta, logsource=LogSource(ls.category, ls.product, ls.service),
                fields=frozenset(names), kind="detection", cond=cond, tests=tuple(tests))


def _correlation(r, meta: dict) -> Rule:
    from sigma.correlations import SigmaCorrelationCondition
    typ = r.type.name.lower()
    if typ not in ("event_count", "value_count", "temporal", "temporal_ordered"):
        raise Unsupported(f"correlation type {typ} is not supported (event_count, value_count, "
                          "temporal, temporal_ordered are)")
    c = r.condition
    if typ.startswith("temporal") and c is None:
        op, count, fld = "gte", len(r.rules or ()), None
    elif not isinstance(c, SigmaCorrelationCondition):
        raise Unsupported("extended correlation conditions are not supported")
    else:
        op, count = c.op.name.lower(), c.count
        fld = c.fieldref if isinstance(c.fieldref, str) or c.fieldref is None else None
        if c.fieldref is not None and not isinstance(c.fieldref, str):
            raise Unsupported("value_count over several fields is not supported")
    if typ == "value_count" and not fld:
        raise Unsupported("value_count needs a condition field")
    aliases = tuple((name, tuple((ref.reference, f) for ref, f in a.mapping.items()))
                    for name, a in r.aliases.aliases.items())
    refs = tuple(x.reference for x in (r.rules or ()))
    spec = Correlation(typ, refs, int(r.timespan.seconds), tuple(r.group_by or ()), op, int(count),
                       fld, aliases, bool(r.generate))
    names = set(spec.group_by) | ({fld} if fld else set())
    return Rule(**meta, logsource=LogSource(None, None, None), fields=frozenset(names),
                kind="correlation", correlation=spec)


# ---------------------------------------------------------------- compiling conditions

def _compile(node, tests: list[Test]) -> tuple:
    from sigma.conditions import (ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT,
                                  ConditionOR, ConditionValueExpression)
    if node is None:
        raise Unsupported("the condition is empty (every detection was dropped)")
    if isinstance(node, ConditionAND):
        return ("and", tuple(_compile(a, tests) for a in node.args))
    if isinstance(node, ConditionOR):
        return ("or", tuple(_compile(a, tests) for a in node.args))
    if isinstance(node, ConditionNOT):
        return ("not", _compile(node.args[0], tests))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _value(node.field, node.value, tests)
    if isinstance(node, ConditionValueExpression):
        return _value(None, node.value, tests)
    raise Unsupported(f"condition element {type(node).__name__} is not supported")


def _add(tests: list[Test], t: Test) -> tuple:
    try:
        return ("t", tests.index(t))
    except ValueError:
        tests.append(t)
        return ("t", len(tests) - 1)


def _value(fld: str | None, v, tests: list[Test]) -> tuple:
    from sigma import types as st
    if isinstance(v, st.SigmaExpansion):
        return ("or", tuple(_value(fld, x, tests) for x in v.values))
    if isinstance(v, st.SigmaString):           # (SigmaCasedString is one)
        return _add(tests, Test(fld, "glob", glob_parts(v), isinstance(v, st.SigmaCasedString)))
    if isinstance(v, st.SigmaRegularExpression):
        pattern = glob_text(v.regexp)
        flags = "".join(sorted(v.sigma_to_re_flag[f] for f in v.flags))
        return _add(tests, Test(fld, "re", (pattern, flags)))
    if fld is None and not isinstance(v, st.SigmaNumber):
        raise Unsupported(f"a keyword of type {type(v).__name__} is not supported")
    if isinstance(v, st.SigmaTimestampPart):
        raise Unsupported("timestamp part modifiers (minute, hour, day, week, month, year) are not supported")
    if isinstance(v, st.SigmaNumber):
        if fld is None:     # a numeric keyword: its text
            return _add(tests, Test(None, "glob", (str(v.number),)))
        return _add(tests, Test(fld, "num", v.number))
    if isinstance(v, st.SigmaBool):
        return _add(tests, Test(fld, "bool", bool(v.boolean)))
    if isinstance(v, st.SigmaNull):
        return _add(tests, Test(fld, "null"))
    if isinstance(v, st.SigmaExists):
        return _add(tests, Test(fld, "exists", bool(v.exists)))
    if isinstance(v, st.SigmaCIDRExpression):
        return _add(tests, Test(fld, "cidr", str(v.network)))
    if isinstance(v, st.SigmaCompareExpression):
        return _add(tests, Test(fld, "cmp", (v.op.name.lower(), v.number.number)))
    if isinstance(v, st.SigmaFieldReference):
        mode = "eq"
        sw, ew = getattr(v, "starts_with", False), getattr(v, "ends_with", False)
        if sw and ew:
            mode = "contains"
        elif sw:
            mode = "startswith"
        elif ew:
            mode = "endswith"
        return _add(tests, Test(fld, "fieldref", (v.field, mode)))
    raise Unsupported(f"value type {type(v).__name__} is not supported")


def glob_parts(s) -> tuple:
    """A SigmaString as (literal str | ("*",) | ("?",), …), adjacent literals merged."""
    from sigma.types import Placeholder, SpecialChars
    out: list = []
    for p in s.s:
        if isinstance(p, str):
            if out and isinstance(out[-1], str):
                out[-1] += p
            else:
                out.append(p)
        elif p is SpecialChars.WILDCARD_MULTI:
            if not (out and out[-1] == ("*",)):
                out.append(("*",))
        elif p is SpecialChars.WILDCARD_SINGLE:
            out.append(("?",))
        elif isinstance(p, Placeholder):
            raise Unsupported(f"placeholder %{p.name}% needs a processing pipeline that fills it")
        else:
            raise Unsupported(f"string part {p!r} is not supported")
    return tuple(out)


def glob_text(s) -> str:
    """A regex SigmaString back to its text (pySigma keeps regex text in a SigmaString)."""
    from sigma.types import Placeholder
    if any(isinstance(p, Placeholder) for p in s.s):
        raise Unsupported("placeholder in a regular expression needs a processing pipeline")
    return str(s)


# ---------------------------------------------------------------- cache

def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edrql"


def _cache_key(files: list[Path]) -> str:
    import sigma
    from ..version import __version__   # (not the edrql package: execute → sigma → edrql is a cycle)
    h = hashlib.sha256()
    h.update(f"{CACHE_FORMAT}\0{__version__}\0{getattr(sigma, '__version__', '')}\0".encode())
    for f in files:
        s = f.stat()
        h.update(f"{f.resolve()}\0{s.st_size}\0{s.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def _cached(files: list[Path]) -> RuleSet | None:
    try:
        p = _cache_dir() / f"sigma-{_cache_key(files)}.pickle"
        with open(p, "rb") as fh:
            rs = pickle.load(fh)
        return rs if isinstance(rs, RuleSet) else None
    except Exception:               # absent, stale or unreadable: load afresh
        return None


def _store(files: list[Path], rs: RuleSet) -> None:
    try:
        d = _cache_dir()
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"sigma-{_cache_key(files)}.pickle"
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(rs, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, p)
    except OSError:                 # a read-only home: no cache, still correct
        pass
