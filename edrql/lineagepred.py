"""Lineage predicates in ``where``: ``descendant_of(PRED)``, ``child_of(PRED)`` and
``ancestor_of(PRED)`` — EQL's ``descendant of [...]`` / ``child of [...]``, and their
negation: ``procs | where not descendant_of(name == "winword.exe")``.

PRED is a filter over ``procs``; the row's process (its ``proc`` column) is looked up in the
case's lineage. They are not plain functions (they need the case): at the where stage each
call is replaced by a precomputed true/false/null column (``run_where``), which the plan
checks as a bool (``plan_where``). The answer over all instances is found with numpy over
the parent array, one pass per level of the tree (never a Python loop over rows).

Three values, so that an analyst never gets a false "not a descendant": a link that is
``ambiguous`` (several possible parents: PID reuse) or ``conflict`` (the source's own record
of the parent disagrees with the resolved one) is uncertain. Through an uncertain link the
answer is true only when every candidate gives true, false only when every candidate gives
false, and null otherwise; a null is kept by neither ``where descendant_of(…)`` nor
``where not descendant_of(…)`` (a note says how many), and ``isnull(descendant_of(…))``
lists them. A ``missing`` parent (none in the data) ends the chain: false. A row whose
``proc`` is no known instance gets null.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from .errors import QueryError
from .fnspec import BOOL

NAMES = ("descendant_of", "child_of", "ancestor_of")

_TMP = "__lineage"


def calls(expr) -> list[A.Call]:
    """The lineage calls of an expression, outermost only (a PRED's own are its business)."""
    out, stack = [], [expr]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Call) and n.name in NAMES:
            out.append(n)
            continue
        if isinstance(n, A.Subquery):         # x in (T | where …): a pipeline of its own
            continue
        if isinstance(n, list):
            stack.extend(n)
        elif hasattr(n, "__dataclass_fields__"):
            stack.extend(getattr(n, f) for f in n.__dataclass_fields__ if f != "pos")
    return out


def uses(st) -> bool:
    return isinstance(st, A.Where) and bool(calls(st.expr))


def _replace(expr, names: dict):
    """The expression with each lineage call (by identity) replaced by a field."""
    if isinstance(expr, A.Call) and id(expr) in names:
        return A.Field(names[id(expr)], expr.pos)
    if isinstance(expr, A.Subquery):
        return expr
    if isinstance(expr, list):
        return [_replace(x, names) for x in expr]
    if not hasattr(expr, "__dataclass_fields__") or isinstance(expr, A.Pos):
        return expr
    changes = {f: _replace(getattr(expr, f), names) for f in expr.__dataclass_fields__
               if f != "pos"}
    return dataclasses.replace(expr, **changes)


def _arg(call: A.Call):
    if len(call.args) != 1:
        raise QueryError(f"{call.name}() takes one condition over procs, got "
                         f"{len(call.args)} argument(s)", call.pos,
                         f'e.g. procs | where not {call.name}(name == "winword.exe")')
    return call.args[0]


def _no_proc(call: A.Call) -> QueryError:
    return QueryError(f"{call.name}() needs rows with a proc column (procs, events(), a "
                      "sequence's rows)", call.pos,
                      f'start from procs: procs | where {call.name}(name == "winword.exe")')


# ---------------------------------------------------------------- plan
def plan_where(planner, expr, cols):
    """(expr with each lineage call as a bool column, cols with those columns): PRED is
    checked over the procs columns, with its position; cols None: the input is not known."""
    from .exprcheck import takes
    from .kindmsgs import what
    from .names import resolve_column
    found = calls(expr)
    if not found:
        return expr, cols
    names = {}
    out = dict(cols) if cols is not None else None
    for k, call in enumerate(found):
        pred = _arg(call)
        if cols is not None and resolve_column("proc", list(cols)) is None:
            raise _no_proc(call)
        from .lineage import PROCS_KINDS      # (lineage loads only for a query that uses it)
        inner, inner_cols = plan_where(planner, pred, dict(PROCS_KINDS))
        kind = planner.expr(inner, inner_cols)
        if not takes(kind, {BOOL}):
            raise QueryError(f"{call.name}() needs a condition over procs; {what(pred)} is not "
                             "true/false", pred.pos,
                             f'compare it, e.g. {call.name}(name == "winword.exe")')
        names[id(call)] = f"{_TMP}{k}"
        if out is not None:
            out[f"{_TMP}{k}"] = BOOL
    return _replace(expr, names), out


# ---------------------------------------------------------------- run
def run_where(st: A.Where, cur, ctx, run):
    """Run a where with lineage calls: each becomes a column, ``run`` filters, and the
    columns are dropped again."""
    t = cur.table
    notes: list[str] = []
    expr, t = _materialise(st.expr, t, ctx, notes)
    aug = copy.copy(cur)
    aug.table = t
    out = run(A.Where(expr, st.pos), aug)
    tmp = [c for c in out.table.column_names if c.startswith(_TMP)]
    if tmp:
        out.table = out.table.drop_columns(tmp)
    out.notes = list(out.notes) + [n for n in notes if n not in out.notes]
    return out


def _materialise(expr, t: pa.Table, ctx, notes: list):
    from .expr import Evaluator
    from .names import resolve_column
    found = calls(expr)
    if not found:
        return expr, t
    lin = ctx.case.lineage
    procs = lin.procs
    names, idx = {}, None
    for k, call in enumerate(found):
        pred = _arg(call)
        col = resolve_column("proc", t.column_names)
        if col is None:
            raise _no_proc(call)
        inner, paug = _materialise(pred, procs, ctx, notes)
        m = Evaluator(paug, ctx.scope).eval(inner)
        if isinstance(m, pa.Scalar):
            match = np.full(procs.num_rows, bool(m.as_py()), bool)
        else:
            match = pc.fill_null(m, False).to_numpy(zero_copy_only=False).astype(bool)
        yes, no = answer(lin, match, call.name)
        if idx is None:                 # each row's instance, once for all the calls
            keys = t[col]
            if pa.types.is_dictionary(keys.type):
                keys = keys.cast(keys.type.value_type)
            idx = pc.fill_null(pc.index_in(keys, value_set=procs["proc"]), -1)
            idx = idx.to_numpy(zero_copy_only=False).astype(np.int64)
        at = np.maximum(idx, 0)
        known = (idx >= 0) & (yes[at] | no[at])
        name = f"{_TMP}{k}"
        t = t.append_column(name, pa.array(yes[at], pa.bool_(), mask=~known))
        names[id(call)] = name
        n_unknown = int((~known).sum())
        if n_unknown:
            notes.append(f"note: {call.name}(…) cannot decide {n_unknown:,} row(s): an ambiguous "
                         "or conflicting parent link lies on the way (or the row's proc is no "
                         f"known process); neither {call.name}(…) nor not {call.name}(…) keeps "
                         f"them, where isnull({call.name}(…)) lists them")
    return _replace(expr, names), t


# ---------------------------------------------------------------- the lineage
def _edges(lin):
    """(parent index, resolved mask, uncertain mask, candidate pairs child→candidate), cached
    on the lineage. Uncertain: ambiguous links (candidates from candidate_procs) and
    conflicting ones (the resolved parent, and an unknown other); candidate -1 = unknown."""
    cached = getattr(lin, "_pred_edges", None)
    if cached is not None:
        return cached
    p = lin.procs
    par = np.asarray(lin.parent_idx, np.int64)
    link = p["link"]
    amb = pc.fill_null(pc.equal(link, "ambiguous"), False).to_numpy(zero_copy_only=False)
    conf = pc.fill_null(pc.equal(link, "conflict"), False).to_numpy(zero_copy_only=False)
    amb_i = np.nonzero(amb)[0]
    cj, cu = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    if len(amb_i):
        lists = pc.split_pattern(pc.fill_null(p["candidate_procs"].take(pa.array(amb_i)), ""),
                                 ", ").combine_chunks()
        flat = pc.list_flatten(lists)
        owner = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
        found = pc.fill_null(pc.index_in(flat, value_set=p["proc"]), -1)
        cj.append(amb_i[owner])
        cu.append(found.to_numpy(zero_copy_only=False).astype(np.int64))
    conf_i = np.nonzero(conf & (par >= 0))[0]
    cj += [conf_i, conf_i]
    cu += [par[conf_i], np.full(len(conf_i), -1, np.int64)]
    unc = amb | conf
    out = (par, (par >= 0) & ~unc, unc, np.concatenate(cj), np.concatenate(cu))
    lin._pred_edges = out
    return out


def _from_parent(vt, vf, edges):
    """(true, false) per instance of "the value at its parent": through a resolved link the
    parent's; no parent: false; an uncertain link: every candidate's if they agree."""
    par, res, unc, cj, cu = edges
    k = len(par)
    yes, no = np.zeros(k, bool), np.zeros(k, bool)
    yes[res], no[res] = vt[par[res]], vf[par[res]]
    no[(par < 0) & ~unc] = True
    if len(cj):
        ok = cu >= 0
        at = np.maximum(cu, 0)
        n = np.bincount(cj, minlength=k)
        n_yes = np.bincount(cj, weights=ok & vt[at], minlength=k)
        n_no = np.bincount(cj, weights=ok & vf[at], minlength=k)
        some = unc & (n > 0)
        yes[some], no[some] = n_yes[some] == n[some], n_no[some] == n[some]
    return yes, no


def answer(lin, match: np.ndarray, name: str):
    """(definitely true, definitely false) per instance of ``name``(PRED) where ``match`` is
    PRED per instance; neither: not decidable (null)."""
    edges = _edges(lin)
    k = len(match)
    if name == "child_of":
        return _from_parent(match, ~match, edges)
    if name == "descendant_of":
        # self_or_above: the instance or an ancestor matches; grown one level per pass
        st, sf = match.copy(), np.zeros(k, bool)
        for _ in range(k + 1):
            up_t, up_f = _from_parent(st, sf, edges)
            nt, nf = match | up_t, ~match & up_f
            if np.array_equal(nt, st) and np.array_equal(nf, sf):
                break
            st, sf = nt, nf
        return _from_parent(st, sf, edges)
    return _ancestor(match, edges)


def _ancestor(match, edges):
    """ancestor_of: a proper descendant matches — definitely through resolved links, maybe
    through uncertain ones (their candidates may be the parent)."""
    par, res, unc, cj, cu = edges
    k = len(match)
    rc = np.nonzero(res)[0]
    rp = par[rc]
    mc, mu = cj[cu >= 0], cu[cu >= 0]
    sure = np.zeros(k, bool)
    for _ in range(k + 1):
        below = match | sure
        nxt = np.bincount(rp, weights=below[rc], minlength=k) > 0
        if np.array_equal(nxt, sure):
            break
        sure = nxt
    maybe = sure.copy()
    for _ in range(k + 1):
        below = match | maybe
        nxt = maybe | (np.bincount(rp, weights=below[rc], minlength=k) > 0) | \
            (np.bincount(mu, weights=below[mc], minlength=k) > 0)
        if np.array_equal(nxt, maybe):
            break
        maybe = nxt
    return sure, ~maybe
