"""The Lark → AST transformer's stages: where, project(-away/-keep/-rename/-reorder),
extend, sort/top/head, stats/summarize, pipe calls, search, and KQL's join, lookup, union,
mv-expand, datatable, externaldata (with their options checked here).

A base class of ``parse._Build``, which adds statements, expressions and literals. Its
methods get Lark's ``meta`` (positions) through ``v_args`` on this class, as Lark applies
``v_args`` to a class's own methods only.
"""
from __future__ import annotations

from lark import Token, v_args
from lark.visitors import Transformer_NonRecursive

from . import ast as A
from .errors import ParseError

#: the largest row count / integer (a larger count means "all rows")
I64 = 2**63 - 1


def meta_pos(meta) -> A.Pos:
    if getattr(meta, "empty", True):
        return A.NOPOS
    return A.Pos(meta.line, meta.column, meta.end_line, meta.end_column)


def token_pos(tok: Token) -> A.Pos:
    return A.Pos(tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column)


@v_args(meta=True)
class StageBuilder(Transformer_NonRecursive):
    """Stage nodes; ``agg_call`` reuses ``func_call`` of the subclass (parse._Build)."""

    # ------------------------------------------------------------ stages
    def where_stage(self, meta, items):
        return A.Where(items[0], meta_pos(meta))

    def project_stage(self, meta, items):
        return A.Project(items, meta_pos(meta))

    def named_item(self, meta, items):
        return A.Item(str(items[0]), items[1], meta_pos(meta))

    def plain_item(self, meta, items):
        return A.Item(None, items[0], meta_pos(meta))

    def extend_stage(self, meta, items):
        return A.Extend(items, meta_pos(meta))

    def assign(self, meta, items):
        return A.Item(str(items[0]), items[1], meta_pos(meta))

    def sort_stage(self, meta, items):
        return A.Sort(items, meta_pos(meta))

    def sort_key(self, meta, items):
        expr, direction, nocase, nulls = items
        desc = None if direction is None else str(direction) == "desc"
        return A.SortKey(expr, desc, meta_pos(meta),
                         None if nulls is None else str(nulls).split()[-1], nocase is not None)

    # a row count beyond any table (head 99999999999999999999) means "all rows"
    def head_stage(self, meta, items):
        return A.Head(min(int(items[0]), I64), meta_pos(meta))

    def tail_stage(self, meta, items):
        return A.Tail(min(int(items[0]), I64), meta_pos(meta))

    def count_stage(self, meta, items):
        keys = [e for e in items if e is not None]        # ---- eqlpipes: EQL's count a, b
        if keys and keys[0].pos.line not in (0, meta.line):
            # `events | count` + newline + `procs | count`: a forgotten blank line, not a key
            raise ParseError("count's keys (EQL's count a, b) go on the line of count",
                             keys[0].pos.line, keys[0].pos.column,
                             "statements are separated by ; or a blank line")
        return A.Count(meta_pos(meta), keys)

    def stats_stage(self, meta, items):
        *aggs, by = items
        return A.Stats(aggs, by or [], meta_pos(meta))

    def agg_as(self, meta, items):
        call, name = items
        return A.Agg(str(name) if name is not None else None, call, meta_pos(meta))

    def agg_named(self, meta, items):
        return A.Agg(str(items[0]), items[1], meta_pos(meta))

    # ---- KQL tabular operators
    def agg_call(self, meta, items):
        return self.func_call(meta, items)

    def agg_star(self, meta, items):
        tok = items[0]
        if str(tok) != "*":
            raise ParseError(f"unexpected {str(tok)!r} in an aggregation's arguments",
                             tok.line, tok.column, "write an expression, or * for every column")
        return A.Star(token_pos(tok))

    def plain_assign(self, meta, items):
        return A.Item(None, items[0], meta_pos(meta))

    def col_pattern(self, meta, items):
        tok = items[0]
        return tok[0] if isinstance(tok, tuple) else str(tok)

    def rename(self, meta, items):
        return (items[0][0], items[1][0])

    def project_away_stage(self, meta, items):
        return A.ProjectAway(list(items[1:]), False, meta_pos(meta))

    def project_keep_stage(self, meta, items):
        return A.ProjectAway(list(items[1:]), True, meta_pos(meta))

    def project_rename_stage(self, meta, items):
        return A.ProjectRename(list(items[1:]), meta_pos(meta))

    def render_stage(self, meta, items):
        return A.Render(str(items[0]), meta_pos(meta))

    def project_reorder_stage(self, meta, items):
        return A.ProjectReorder(list(items[1:]), meta_pos(meta))

    def by_clause(self, meta, items):
        return list(items)

    def distinct_stage(self, meta, items):
        return A.Distinct(list(items), meta_pos(meta))

    def top_stage(self, meta, items):
        return A.Top(min(int(items[0]), I64), items[1], meta_pos(meta))

    def save_stage(self, meta, items):
        return A.Save(items[0].value, meta_pos(meta))

    def call_stage(self, meta, items):
        name, *rest = items
        by = rest.pop() if rest and (rest[-1] is None or isinstance(rest[-1], list)) else None
        args, kwargs = [], {}
        for a in rest:
            if a is None:
                continue
            if isinstance(a, tuple):
                kwargs[a[0]] = a[1]
            else:
                args.append(a)
        return A.PipeCall(str(name), args, kwargs, by or [], meta_pos(meta))

    def named_arg(self, meta, items):
        return (str(items[0]), items[1])

    def pos_arg(self, meta, items):
        return items[0]

    # ---- eqlpipes: EQL's unique / unique_count, and filter (= where)
    def unique_stage(self, meta, items):
        word, *exprs = items
        return A.Unique(exprs, str(word) == "unique_count", meta_pos(meta))

    def filter_stage(self, meta, items):
        return A.Where(items[0], meta_pos(meta))

    # ---- joins: join, lookup, union, mv-expand, datatable, externaldata, in (table)
    def join_stage(self, meta, items):
        return _joinish(A.Join, "join", items, meta)

    def lookup_stage(self, meta, items):
        return _joinish(A.Lookup, "lookup", items, meta)

    def union_stage(self, meta, items):
        opts = _opts("union", [i for i in items if isinstance(i, tuple)], _UNION_OPTS)
        pipes = [i for i in items if isinstance(i, A.Pipeline)]
        names = [p.source.name if isinstance(p.source, A.Table) and not p.stages
                 else f"union_arg{k}" for k, p in enumerate(pipes)]
        kind = opts.get("kind", "outer")
        return A.UnionOf(pipes, kind, opts.get("withsource"), names, meta_pos(meta))

    def tab_opt(self, meta, items):
        return (str(items[0]), str(items[1]), token_pos(items[0]))

    def tab_arg(self, meta, items):
        x = items[0]
        if isinstance(x, A.Pipeline):
            return x
        return A.Pipeline(A.Table(x[0], x[1]), [], x[1])

    def join_same(self, meta, items):
        return A.JoinOn(items[0][0], items[0][0], meta_pos(meta))

    def join_sides(self, meta, items):
        a, op, b = items
        if str(op) != "==":
            raise ParseError(f"a join condition compares with ==, not {op}", op.line, op.column,
                             "on $left.pid == $right.pid")
        sides = {str(a).split(".", 1)[0]: str(a).split(".", 1)[1],
                 str(b).split(".", 1)[0]: str(b).split(".", 1)[1]}
        if set(sides) != {"$left", "$right"}:
            raise ParseError("a join condition names one column of each side", a.line, a.column,
                             "on $left.pid == $right.pid")
        return A.JoinOn(sides["$left"], sides["$right"], meta_pos(meta))

    def mvexpand_stage(self, meta, items):
        _, *rest = items
        limit = rest.pop() if rest and (rest[-1] is None or isinstance(rest[-1], Token)) else None
        return A.MvExpand(rest, None if limit is None else min(int(limit), I64), meta_pos(meta))

    def mv_item(self, meta, items):
        name, expr, typ = items
        return A.MvItem(None if name is None else str(name), expr,
                        None if typ is None else str(typ), meta_pos(meta))

    def datatable(self, meta, items):
        cols = [i for i in items if isinstance(i, A.ColumnDecl)]
        vals = [i for i in items if i is not None and not isinstance(i, A.ColumnDecl)]
        return A.DataTable(cols, vals, meta_pos(meta))

    def externaldata(self, meta, items):
        cols = [i for i in items if isinstance(i, A.ColumnDecl)]
        paths = [i.value for i in items if isinstance(i, A.Lit)]
        opts = next((i for i in items if isinstance(i, dict)), {})
        return A.ExternalData(cols, paths, opts, meta_pos(meta))

    def col_decl(self, meta, items):
        return A.ColumnDecl(items[0][0], str(items[1]), meta_pos(meta))

    def with_opts(self, meta, items):
        return dict(items)

    def with_opt(self, meta, items):
        return (str(items[0]), items[1])

    def in_tabular(self, meta, items):
        expr, op, src, *stages = items
        if not isinstance(src, A.Field):
            raise ParseError("a tabular expression in in (…) starts with a table name",
                             src.pos.line, src.pos.column, "name in (iocs | project name)")
        sub = A.Subquery(A.Pipeline(A.Table(src.name, src.pos), stages, meta_pos(meta)), src.pos)
        return A.InList(expr, [sub], str(op), meta_pos(meta))

    # ------------------------------------------------------------ search
    def search_stage(self, meta, items):
        cs, term, *cols = items
        kw = next((c for c in cols if isinstance(c, Token)), None)     # ---- EQL (issue 14):
        if kw is not None and str(kw) != "in":                         # the IN token
            raise ParseError(f"search takes `in (columns)`, not {str(kw)!r}", kw.line, kw.column,
                             'e.g. search "evil" in (cmdline, path)')
        columns = [c[0] for c in cols if isinstance(c, tuple)]
        return A.Search(term, cs is not None, columns, meta_pos(meta))

    def search_text(self, meta, items):
        return A.SText(items[0].value, meta_pos(meta))

    def search_regex(self, meta, items):
        return A.SRegex(items[0].value, meta_pos(meta))

    def search_negate(self, meta, items):
        return A.SBool("not", [items[0]], meta_pos(meta))

    def search_or(self, meta, items):
        return A.SBool("or", list(items), meta_pos(meta))

    def search_and(self, meta, items):
        return A.SBool("and", list(items), meta_pos(meta))

    # ---- sequences: sequence [by …] [with …] [STEP] … [until [STEP]]
    def sequence_stage(self, meta, items):
        by, opts, *steps = items
        until = steps.pop() if steps and isinstance(steps[-1], tuple) else None
        steps = [s for s in steps if s is not None]
        return A.Sequence(by or [], opts or [], steps, until[1] if until else None,
                          meta_pos(meta))

    def seq_by(self, meta, items):
        return [A.Field(n, p) for n, p in items]

    def seq_with(self, meta, items):
        return list(items)

    def seq_opt(self, meta, items):
        name, value = items
        if isinstance(value, Token):
            if value.type == "DURATION":
                value = self.duration_lit(meta, [value])
            elif value.type == "INT":
                value = self.int_lit(meta, [value])
            elif value.type == "FLOAT":
                value = self.float_lit(meta, [value])
            else:
                value = str(value)
        return A.SeqOpt(str(name), value, token_pos(name))

    def seq_step(self, meta, items):
        cat, expr, by = items
        return A.SeqStep(None if cat is None else str(cat), expr, by or [],
                         A.NOPOS if cat is None else token_pos(cat), meta_pos(meta))

    def seq_not_step(self, meta, items):
        step = self.seq_step(meta, items[1:])
        step.negated = True
        return step

    def seq_until(self, meta, items):
        return ("until", items[0])


# ---- joins: options of join, lookup and union
_JOIN_KINDS = {"innerunique", "inner", "leftouter", "leftanti", "anti", "leftantisemi", "leftsemi",
               "rightanti", "rightantisemi", "rightsemi", "rightouter", "fullouter"}
_UNION_OPTS = {"kind": {"outer", "inner"}, "withsource": None, "isfuzzy": {"true", "false"}}


def _opts(stage: str, opts: list, allowed: dict) -> dict:
    out = {}
    for name, value, pos in opts:
        if name.startswith("hint.") and stage == "join":
            out[name] = value                 # execution hints: accepted, noted, ignored
            continue
        if name not in allowed:
            raise ParseError(f"{stage} has no option {name}=", pos.line, pos.column,
                             f"its options: {', '.join(n + '=' for n in allowed)}")
        if allowed[name] is not None and value not in allowed[name]:
            raise ParseError(f"{stage} {name}={value} is not known", pos.line, pos.column,
                             f"{name}= takes " + ", ".join(sorted(allowed[name])))
        out[name] = value
    return out


def _joinish(cls, stage: str, items, meta):
    kinds = _JOIN_KINDS if cls is A.Join else {"leftouter", "inner"}
    opts = _opts(stage, [i for i in items if isinstance(i, tuple)], {"kind": kinds})
    right = next(i for i in items if isinstance(i, A.Pipeline))
    on = [i for i in items if isinstance(i, A.JoinOn)]
    if cls is A.Join:
        hints = {k: v for k, v in opts.items() if k.startswith("hint.")}
        return A.Join(opts.get("kind"), right, on, hints, meta_pos(meta))
    return A.Lookup(opts.get("kind"), right, on, meta_pos(meta))
