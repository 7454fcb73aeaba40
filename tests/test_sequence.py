"""The sequence operator (edrql/sequence.py engine, edrql/sequenceops.py stage).

The engine is checked against EQL's own Python engine (the ``eql`` package) on
randomised small inputs; the stage on the bundled example case."""
from __future__ import annotations

import random

import numpy as np
import pytest

from edrql.sequence import match

eql = pytest.importorskip("eql")


# ---------------------------------------------------------------- the engine vs EQL's
def _eql_sequences(events, n_steps, keyed, until, maxspan):
    from eql.engine import PythonEngine
    from eql.events import Event
    by = (lambda j: f" by k{j}") if keyed == "step" else (lambda j: "")
    head = "sequence by k0" if keyed == "seq" else "sequence"
    span = f" with maxspan={maxspan}s" if maxspan is not None else ""
    steps = "".join(f" [any where s{j} == 1]{by(j)}" for j in range(n_steps))
    tail = f" until [any where u == 1]{by('u')}" if until else ""
    with eql.parser.ignore_missing_functions:
        query = eql.parse_query(head + span + steps + tail)
    eng = PythonEngine({"time_unit": 1})        # maxspan=Ns is N time units
    out = []
    eng.add_output_hook(lambda r: out.append([e.data["i"] for e in r.events]))
    eng.add_query(query)
    eng.stream_events([Event("x", e["t"], e) for e in events])
    return out


def _ours(events, n_steps, keyed, until, maxspan):
    t = np.array([e["t"] for e in events], np.int64)
    def key(j):
        col = "k0" if keyed == "seq" else f"k{j}"
        return np.array([e[col] if keyed else 0 for e in events], np.int64)
    steps = []
    for j in range(n_steps):
        m = np.array([e[f"s{j}"] == 1 for e in events])
        p = np.flatnonzero(m)
        steps.append((p, key(j)[p], t[p]))
    u = None
    if until:
        m = np.array([e["u"] == 1 for e in events])
        p = np.flatnonzero(m)
        u = (p, key("u")[p])
    return match(steps, u, maxspan).tolist()


def _random_events(rng, n, n_steps, n_keys):
    t, out = 0, []
    for i in range(n):
        t += rng.choice([0, 0, 1, 1, 2, 3])           # ties in time are common
        e = {"i": i, "t": t, "u": int(rng.random() < 0.08)}
        for j in range(n_steps):
            e[f"s{j}"] = int(rng.random() < 0.35)     # one event may match several steps
        for j in list(range(n_steps)) + ["u"]:
            e[f"k{j}"] = rng.randrange(n_keys)
        out.append(e)
    return out


@pytest.mark.parametrize("seed", range(200))
def test_engine_matches_eql_on_random_inputs(seed):
    rng = random.Random(seed)
    n_steps = rng.choice([2, 2, 3, 4])
    keyed = rng.choice([None, "seq", "step"])
    until = rng.random() < 0.5
    maxspan = rng.choice([None, 0, 2, 5])
    events = _random_events(rng, rng.randrange(5, 60), n_steps, rng.choice([1, 2, 3]))
    want = _eql_sequences(events, n_steps, keyed, until, maxspan)
    assert _ours(events, n_steps, keyed, until, maxspan) == want


def test_engine_random_inputs_find_sequences():
    """The property test is not vacuous: most of its inputs have sequences."""
    found = 0
    for seed in range(200):
        rng = random.Random(seed)
        n_steps = rng.choice([2, 2, 3, 4])
        keyed = rng.choice([None, "seq", "step"])
        until = rng.random() < 0.5
        maxspan = rng.choice([None, 0, 2, 5])
        events = _random_events(rng, rng.randrange(5, 60), n_steps, rng.choice([1, 2, 3]))
        found += bool(_ours(events, n_steps, keyed, until, maxspan))
    assert found >= 100


def _steps(*rows):
    """Steps as (pos, key, ts) from lists of (pos, key, ts) tuples."""
    return [tuple(np.array(c, np.int64) for c in zip(*r)) if r else
            (np.zeros(0, np.int64),) * 3 for r in rows]


def test_latest_start_wins():
    # two starts for key 1 before one second step: the later start is kept
    got = match(_steps([(0, 1, 0), (1, 1, 1)], [(2, 1, 2)]))
    assert got.tolist() == [[1, 2]]


def test_one_event_never_advances_two_steps():
    # event 1 matches both steps: it finishes 0's sequence and starts its own
    got = match(_steps([(0, 1, 0), (1, 1, 1)], [(1, 1, 1), (2, 1, 2)]))
    assert got.tolist() == [[0, 1], [1, 2]]


def test_until_clears_before_steps_of_the_same_event():
    got = match(_steps([(0, 1, 0)], [(1, 1, 1)]), until=(np.array([1]), np.array([1])))
    assert got.tolist() == []
    got = match(_steps([(0, 1, 0)], [(1, 1, 1)]), until=(np.array([1]), np.array([2])))
    assert got.tolist() == [[0, 1]]


def test_maxspan_is_inclusive():
    assert match(_steps([(0, 1, 0)], [(1, 1, 5)]), maxspan=5).tolist() == [[0, 1]]
    assert match(_steps([(0, 1, 0)], [(1, 1, 6)]), maxspan=5).tolist() == []


def test_keys_must_agree():
    assert match(_steps([(0, 1, 0), (1, 2, 0)], [(2, 2, 1)])).tolist() == [[1, 2]]
