"""The ``sequence`` stage: a table in, the events (or one row per sequence) of its
complete sequences out. The matching itself is edrql/sequence.py (arrays in, arrays
out); here: the steps' filters (the Evaluator, once per step over the input), EQL's
event categories, the join keys as int ids, ``proc`` (the acting process instance from
the case's lineage), the output shapes, and the checker's rules (``plan_columns``).

    sequence by host with maxspan=5m [process where name == "winword.exe"] [file where path endswith ".dll"]
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from . import sequence as engine
from .errors import QueryError
from .eventrows import Procs as _Procs
from .joinkeys import one_chunk
from .fnspec import ANY, BOOL, DURATION, INT, LIST, NOUNS, TEXT, TIME
from .names import did_you_mean, resolve_column

#: EQL's event types → the ``event`` values they take: a prefix ("process_": process_start,
#: process_end …), or "=name" for exactly that event; None: every row
CATEGORIES = {"any": None, "process": "process_", "file": "file_", "registry": "registry_",
              "network": "network_", "dns": "=dns_query", "image_load": "=image_load",
              "library": "=image_load", "http": "=http"}
OUTPUTS = ("events", "sequences")
#: output=sequences: these columns of each step's event, as step1.ts, step1.event, …
STEP_COLUMNS = ("ts", "event", "name", "pid", "proc", "cmdline", "path")
#: key kinds that join each other (a number key never joins a text key: EQL compares them
#: as unequal; edrql says so before running)
_KEY_FAMILY = {INT: "number", "float": "number", TEXT: "text", TIME: "time", BOOL: "bool",
               DURATION: "duration"}


# ---------------------------------------------------------------- options and checks
def options(st: A.Sequence) -> tuple[int | None, str]:
    """(maxspan in ns or None, output) from ``with …``; a mistake is a QueryError there."""
    maxspan, output, seen = None, "events", set()
    for o in st.options:
        if o.name in seen:
            raise QueryError(f"sequence option {o.name}= is given twice", o.pos)
        seen.add(o.name)
        if o.name == "maxspan":
            if not (isinstance(o.value, A.Lit) and o.value.kind == "duration"):
                raise QueryError("maxspan= takes a duration", o.pos,
                                 "e.g. with maxspan=5m (units: ms s m h d)")
            maxspan = o.value.value
        elif o.name == "output":
            if isinstance(o.value, A.Lit) and isinstance(o.value.value, str):
                o = A.SeqOpt(o.name, o.value.value, o.pos)          # output="sequences"
            if o.value not in OUTPUTS:
                raise QueryError(f"output={_text(o.value)} is not known", o.pos,
                                 "output=events (one row per event, the default) or "
                                 "output=sequences (one row per sequence)")
            output = o.value
        else:
            raise QueryError(f"sequence has no option {o.name}=", o.pos,
                             did_you_mean(o.name, ["maxspan", "output"]) or
                             "its options: maxspan=, output=")
    return maxspan, output


def _text(v) -> str:
    return str(v.value) if isinstance(v, A.Lit) else str(v)


def steps_of(st: A.Sequence) -> list[A.SeqStep]:
    return st.steps + ([st.until] if st.until is not None else [])


def keys_of(st: A.Sequence, step: A.SeqStep) -> list[A.Field]:
    """A step's join keys: the sequence's own, then the step's (EQL joins them by place)."""
    return list(st.by) + list(step.by)


def plan_columns(planner, st: A.Sequence, cols: dict | None) -> dict | None:
    """The checker's rules for a sequence; its output columns (name → kind)."""
    if len(st.steps) < 2:
        raise QueryError("a sequence needs at least two steps", st.pos,
                         'sequence by host [process where …] [network where …]')
    options(st)
    for k, step in enumerate(st.steps):
        if getattr(step, "negated", False) and (k == 0 or k == len(st.steps) - 1):
            raise QueryError("![…] (must not occur) stands between two steps", step.pos,
                             "sequence by proc [process where …] ![file where …] "
                             "[network where …]")
    if st.until is not None and getattr(st.until, "negated", False):
        raise QueryError("until takes a step, not ![…]", st.until.pos)
    n_keys = len(keys_of(st, st.steps[0]))
    for k, step in enumerate(steps_of(st)):
        what = "until" if step is st.until else f"step {k + 1}"
        if step.category is not None:
            if step.category not in CATEGORIES:
                raise QueryError(f"unknown event category {step.category!r}", step.cat_pos,
                                 did_you_mean(step.category, CATEGORIES) or
                                 "categories: " + ", ".join(CATEGORIES))
            if cols is not None and resolve_column("event", list(cols)) is None \
                    and CATEGORIES[step.category] is not None:
                raise QueryError(f"[{step.category} where …] needs an event column", step.cat_pos,
                                 "write the step as a filter: [EXPR]")
        if len(keys_of(st, step)) != n_keys:
            raise QueryError(f"{what} has {len(keys_of(st, step))} join key(s), step 1 has "
                             f"{n_keys}", step.pos, "every step (and until) joins on as many "
                             "keys: sequence by host [a] by path [b] by image")
        k_ = planner.expr(step.expr, cols)
        if k_ not in (BOOL, ANY, "null"):
            raise QueryError(f"a sequence step needs a condition (true/false); this is "
                             f"{NOUNS.get(k_, k_)}", step.expr.pos, '[name == "cmd.exe"]')
    if cols is not None:
        ts = resolve_column("ts", list(cols))
        if ts is None:
            raise QueryError("sequence needs a ts column (it orders events by time)", st.pos)
        if cols[ts] not in (TIME, INT, ANY, "null"):
            raise QueryError(f"sequence orders by ts, which is {NOUNS.get(cols[ts], cols[ts])} "
                             "here, not a timestamp", st.pos, "extend ts = todatetime(ts) first")
    key_kinds = _key_kinds(st, cols)
    return output_columns(st, cols, key_kinds)


def _key_kinds(st: A.Sequence, cols: dict | None) -> list[str]:
    """The kind of each key position (checked: the columns exist, are not lists, and the
    steps' keys at one position are of one family)."""
    n = len(keys_of(st, st.steps[0]))
    out = [ANY] * n
    if cols is None:
        return out
    names = list(cols)
    for step in steps_of(st):
        for j, f in enumerate(keys_of(st, step)):
            c = resolve_column(f.name, names)
            if c is None:
                if f.name.lower() == "proc":
                    if not _lineage_can_say(cols):
                        raise QueryError("by proc needs rows of the events (source and record) "
                                         "or a proc column", f.pos,
                                         "keep source and record until the sequence, or "
                                         "join on host, pid")
                    kind = TEXT               # attached from the case's lineage
                else:
                    raise QueryError(f"unknown field {f.name!r} in sequence … by", f.pos,
                                     did_you_mean(f.name, names + ["proc"]))
            else:
                kind = cols[c]
            if kind == LIST:
                raise QueryError(f"a sequence cannot join on a list; {f.name} is "
                                 f"{NOUNS[LIST]}", f.pos)
            fam, prev = _KEY_FAMILY.get(kind), _KEY_FAMILY.get(out[j])
            if fam and prev and fam != prev:
                raise QueryError(f"join key {j + 1} is {NOUNS[kind]} here but {NOUNS[out[j]]} "
                                 f"in an earlier step; keys join like with like", f.pos,
                                 "extend a converted column first, e.g. extend pidtext = "
                                 "tostring(pid)")
            if fam:
                out[j] = kind
    return out


def _key_names(st: A.Sequence) -> list[str]:
    """Names of the key columns of output=sequences: step 1's keys, made unique."""
    out = []
    taken = {"sequence", "start", "end", "span"}      # (the shape's own columns keep their names)
    for f in keys_of(st, st.steps[0]):
        name = f.name
        while name in out or name in taken or name.startswith("step"):
            name += "_"
        out.append(name)
    return out


def output_columns(st: A.Sequence, cols: dict | None, key_kinds: list[str]) -> dict | None:
    _, output = options(st)
    if cols is None:
        return None
    if output == "events":
        out = {"sequence": INT, "step": INT}
        out.update((c, k) for c, k in cols.items() if c not in ("sequence", "step"))
        if _lineage_can_say(cols):
            out.setdefault("proc", TEXT)
        return out
    out = {"sequence": INT}
    out.update(zip(_key_names(st), key_kinds))
    out.update(start=TIME, end=TIME, span=DURATION)
    have = dict(cols, proc=TEXT) if _lineage_can_say(cols) else dict(cols)
    for k in (k + 1 for k, step in enumerate(st.steps) if not getattr(step, "negated", False)):
        out.update((f"step{k}.{c}", have[c]) for c in STEP_COLUMNS if c in have)
    return out


def _lineage_can_say(cols: dict) -> bool:
    """Whether the rows' processes can be known: a proc column, or rows of the events
    (source and record) whose acting process the lineage knows."""
    names = list(cols)
    return resolve_column("proc", names) is not None or \
        ("source" in cols and "record" in cols)


# ---------------------------------------------------------------- running
def input_columns(st: A.Sequence) -> set:
    """The input columns the stage itself reads: its steps' and keys' fields, the time and
    the category, the events' identity (for proc) and, for output=sequences, the step columns."""
    cols = A.field_names(st) | {"ts", "event", "source", "record"}
    if options(st)[1] == "sequences":
        cols |= set(STEP_COLUMNS)
    return cols


def run(st: A.Sequence, t: pa.Table, ctx, needed: set | None = None) -> pa.Table:
    """``needed``: the columns later stages read (None: all); proc is attached to the
    output only when they read it (or all)."""
    from .expr import Evaluator
    maxspan, output = options(st)
    names = t.column_names
    ts_col = t.column(resolve_column("ts", names))
    if pa.types.is_timestamp(ts_col.type) and ts_col.type.unit != "ns":
        ts_col = ts_col.cast(pa.timestamp("ns", ts_col.type.tz))
    ts = pc.fill_null(ts_col.cast(pa.int64()), 0).to_numpy() if t.num_rows else \
        np.zeros(0, np.int64)
    has_ts = pc.is_valid(ts_col).to_numpy(zero_copy_only=False) if t.num_rows else \
        np.zeros(0, bool)
    procs = _Procs(ctx, t)
    rows = []
    anyone = np.zeros(t.num_rows, bool)
    for step in steps_of(st):              # the filter over every row, the category and the
        r = np.flatnonzero(_mask(Evaluator(t, ctx.scope), step.expr, t))   # time on its hits
        r = r[has_ts[r]]
        r = r[_category_hits(t, step, r)]
        rows.append(r)
        anyone[r] = True
    # time order of the rows some step matches only (ties in input order): the engine's
    # positions are places in that order
    union = np.flatnonzero(anyone)
    order, upos = engine.positions(ts[union])
    ids = _key_ids(st, t, rows, procs)
    place = np.cumsum(anyone) - 1              # row → its place in union (where anyone)
    steps = []
    for r, kid in zip(rows, ids):
        keep = kid >= 0                    # a null key never joins
        r = r[keep]
        steps.append((upos[place[r]], kid[keep], ts[r]))
    until = None
    if st.until is not None:
        p, k, _ = steps.pop()
        until = (p, k)
    positive = [k for k, step in enumerate(st.steps) if not getattr(step, "negated", False)]
    chain, seq_key = engine.match([steps[k] for k in positive], until, maxspan, with_keys=True)
    keep = np.ones(len(chain), bool)
    for k, step in enumerate(st.steps):        # ![…]: no such event between its neighbours
        if getattr(step, "negated", False):
            i = sum(1 for j in positive if j < k)
            keep &= ~engine.occurs_between(seq_key, chain[:, i - 1], chain[:, i],
                                           steps[k][0], steps[k][1])
    chain = chain[keep]
    seq_rows = union[order[chain]] if chain.size else np.zeros((0, len(positive)), np.int64)
    places = [k + 1 for k in positive]         # steps are numbered as written
    with_proc = needed is None or resolve_column("proc", list(needed)) is not None or \
        any(n.lower().endswith(".proc") for n in needed)
    if output == "sequences":
        return _sequences(st, t, seq_rows, ts, procs, places, with_proc)
    return _events(t, seq_rows, procs if with_proc else None, places)


def _mask(ev, expr, t: pa.Table) -> np.ndarray:
    m = ev.eval(expr)
    if isinstance(m, pa.Scalar):
        return np.full(t.num_rows, bool(m.as_py()))
    if not pa.types.is_boolean(m.type) and not pa.types.is_null(m.type):
        raise QueryError(f"a sequence step needs a condition (true/false), got {m.type}",
                         expr.pos)
    m = pc.fill_null(m, False)
    if isinstance(m, pa.ChunkedArray):
        m = m.combine_chunks()
    return m.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _category_hits(t: pa.Table, step: A.SeqStep, r: np.ndarray) -> np.ndarray:
    """Which of rows ``r`` are of the step's EQL category (a bool per row of r)."""
    if CATEGORIES.get(step.category) is None or not len(r):
        return np.ones(len(r), bool)
    col = t.column(resolve_column("event", t.column_names)).take(pa.array(r, pa.int64()))
    return _category_mask(pa.table({"event": col}), step)


def _category_mask(t: pa.Table, step: A.SeqStep) -> np.ndarray:
    want = CATEGORIES.get(step.category) if step.category else None
    if want is None:
        return np.ones(t.num_rows, bool)
    col = t.column(resolve_column("event", t.column_names))
    if pa.types.is_dictionary(col.type):   # test the dictionary's few values, then the codes
        col = col.unify_dictionaries() if isinstance(col, pa.ChunkedArray) else col
        chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        parts = []
        for ch in chunks:
            hit = _test(ch.dictionary, want).to_numpy(zero_copy_only=False)
            codes = pc.fill_null(ch.indices, -1).to_numpy(zero_copy_only=False)
            parts.append(np.where(codes >= 0, hit[np.maximum(codes, 0)] if len(hit) else False,
                                  False))
        return np.concatenate(parts) if parts else np.zeros(0, bool)
    return pc.fill_null(_test(col, want), False).to_numpy(zero_copy_only=False)


def _test(values, want: str):
    values = pc.cast(values, pa.string())
    if want.startswith("="):
        return pc.fill_null(pc.equal(values, want[1:]), False)
    return pc.fill_null(pc.starts_with(values, want), False)


def _key_ids(st: A.Sequence, t: pa.Table, rows: list, procs: "_Procs") -> list[np.ndarray]:
    """Per step (and until): an int id per row of ``rows[k]`` for its key tuple, equal for
    equal tuples across steps (text compared lowercased); -1 where a key is null.

    Per key place, the steps' values are factorized together: a dictionary column by its
    (lowercased) dictionary and its codes, so text is not decoded row by row."""
    sizes = [len(r) for r in rows]
    total = np.zeros(sum(sizes), np.int64)
    null = np.zeros(sum(sizes), bool)
    span = 1                                   # the ids in total are < span
    for j in range(len(keys_of(st, st.steps[0]))):
        fields = [keys_of(st, step)[j] for step in steps_of(st)]
        parts = [_key_values(f, t, r, procs) for f, r in zip(fields, rows)]
        # host keys follow the host-name rule, as == and summarize by host do (hostnames.py)
        host = all((resolve_column(f.name, t.column_names) or "").lower() == "host"
                   for f in fields)
        code, card = _factorize(parts, host)
        null |= code < 0
        if span * (card + 1) >= 2**62:         # keep the ids small
            total = np.unique(total, return_inverse=True)[1].astype(np.int64).reshape(-1)
            span = int(total.max(initial=0)) + 1
        total = total * (card + 1) + np.maximum(code, 0)
        span *= card + 1
    total[null] = -1
    return np.split(total, np.cumsum(sizes)[:-1]) if rows else []


def _factorize(parts: list, host: bool = False) -> tuple[np.ndarray, int]:
    """One id per value of the parts (each: (codes, dictionary) or plain values), equal
    values equal ids across parts; -1 for null. Also the number of ids. ``host``: text
    values that name one host by the host-name rule get one id."""
    universe = [p[1] if isinstance(p, tuple) else p for p in parts]
    if not universe:
        return np.zeros(0, np.int64), 0
    common = _common(universe)
    universe = [u if u.type == common else u.cast(common) for u in universe]
    vals = pa.chunked_array(universe, type=common).combine_chunks()
    enc = pc.dictionary_encode(vals)
    ids = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    if host and pa.types.is_string(enc.dictionary.type) and len(enc.dictionary):
        from .hostnames import group_codes
        ids = np.where(ids >= 0, group_codes(enc.dictionary)[np.maximum(ids, 0)], -1)
    out, at = [], 0
    for p, u in zip(parts, universe):
        mine = ids[at:at + len(u)]
        at += len(u)
        if isinstance(p, tuple):
            codes = p[0]
            out.append(np.where(codes >= 0, mine[np.maximum(codes, 0)] if len(mine) else -1, -1))
        else:
            out.append(mine)
    return np.concatenate(out).astype(np.int64), len(enc.dictionary)


def _common(parts: list) -> pa.DataType:
    types = {p.type for p in parts} - {pa.null()}      # (an all-null key: any type)
    if len(types) <= 1:
        return types.pop() if types else pa.null()
    if all(pa.types.is_integer(x) or pa.types.is_floating(x) for x in types):
        return pa.float64() if any(pa.types.is_floating(x) for x in types) else pa.int64()
    return pa.string()


def _key_values(f: A.Field, t: pa.Table, r: np.ndarray, procs: "_Procs"):
    """The key column's values at rows r, ready to compare: text lowercased, times and
    booleans as integers; a dictionary column as (codes with -1 for null, its dictionary
    made ready the same way)."""
    name = resolve_column(f.name, t.column_names)
    if name is None:                    # proc (the checker allowed nothing else)
        v = procs.at(r)
        if v is None:
            raise QueryError("by proc needs the case's process lineage (rows of its events)",
                             f.pos, "this input has no proc column and no source/record "
                             "to find its events by")
    else:
        col = t.column(name)
        v = one_chunk(col.take(pa.array(r, pa.int64())))
    if pa.types.is_dictionary(v.type):
        codes = pc.fill_null(v.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return codes, _ready(v.dictionary)
    return _ready(v)


def _ready(v: pa.Array) -> pa.Array:
    if pa.types.is_string(v.type) or pa.types.is_large_string(v.type):
        return pc.utf8_lower(v.cast(pa.string()))
    if pa.types.is_timestamp(v.type) or pa.types.is_duration(v.type) or pa.types.is_date(v.type):
        return v.cast(pa.int64())
    if pa.types.is_boolean(v.type):
        return v.cast(pa.int8())
    if pa.types.is_integer(v.type):
        return v.cast(pa.int64())
    return v


# ---------------------------------------------------------------- output shapes
def _events(t: pa.Table, seq_rows: np.ndarray, procs: _Procs | None, places: list) -> pa.Table:
    n_seq, n_steps = seq_rows.shape
    flat = seq_rows.reshape(-1)
    drop = [c for c in ("sequence", "step") if c in t.column_names]
    body = (t.drop_columns(drop) if drop else t).take(pa.array(flat, pa.int64()))
    names = ["sequence", "step"] + body.column_names
    cols = [pa.array(np.repeat(np.arange(1, n_seq + 1, dtype=np.int64), n_steps)),
            pa.array(np.tile(np.array(places, np.int64), n_seq))] + body.columns
    if procs is not None and procs.own is None and procs.available():
        names.append("proc")
        cols.append(procs.at(flat))
    return pa.Table.from_arrays(cols, names=names)


def _sequences(st: A.Sequence, t: pa.Table, seq_rows: np.ndarray, ts: np.ndarray,
               procs: _Procs, places: list, step_proc: bool = True) -> pa.Table:
    n_seq, n_steps = seq_rows.shape
    first, last = seq_rows[:, 0], seq_rows[:, -1]
    tstype = t.column(resolve_column("ts", t.column_names)).type
    if pa.types.is_timestamp(tstype):
        tstype = pa.timestamp("ns", tstype.tz)
    cols = {"sequence": pa.array(np.arange(1, n_seq + 1, dtype=np.int64))}
    for name, f in zip(_key_names(st), keys_of(st, st.steps[0])):
        c = resolve_column(f.name, t.column_names)
        cols[name] = _take(t.column(c), first) if c is not None else procs.at(first)
    cols["start"] = pa.array(ts[first], pa.int64()).cast(tstype)
    cols["end"] = pa.array(ts[last], pa.int64()).cast(tstype)
    cols["span"] = pa.array(ts[last] - ts[first], pa.duration("ns"))
    for k, place in enumerate(places):
        r = seq_rows[:, k]
        for c in STEP_COLUMNS:
            name = resolve_column(c, t.column_names)
            if name is not None:
                cols[f"step{place}.{c}"] = _take(t.column(name), r)
            elif c == "proc" and step_proc and procs.available():
                cols[f"step{place}.proc"] = procs.at(r)
    return pa.table(cols)


def _take(col, r: np.ndarray):
    return one_chunk(col.take(pa.array(r, pa.int64())))
