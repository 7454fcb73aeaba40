"""Completion from the parser's state and from the data.

What may come next is asked of the grammar itself: the text before the word
being typed is fed to Lark's interactive LALR parser and ``accepts()`` names the
terminals it would take. Those decide the kind of completion — a table at the
start of a statement, a stage after ``|``, a field, function or operator inside
an expression, an aggregation after ``stats`` — and the columns offered are the
ones the pipeline produces at that point (the plan stage computes them from
schemas, so ``procs | …`` offers process columns and ``project a, b | where``
offers a and b). Inside a string after ``field ==``, ``field in (``,
``field contains`` … the distinct values of that field are offered, computed once
per case and cached. Matching is fuzzy: prefix, then substring, then
subsequence. The menu shows every name and value terminal-safe (``safetext.term``);
a value is inserted so that it reads back exactly (hidden characters as ``\\uNNNN``).
"""
from __future__ import annotations

import os
import re

from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from .. import catalog, devtables
from ..functions import AGGREGATIONS, FUNCTIONS, OPERATORS, STAGES
from ..safetext import term
from .casedata import CaseData
from .syntax import (MAX_SHOWN, NAME_RE, WORD_RE, Cand, escape, rank, scan, statement, value_field,
                     writable_raw)


class EdrqlCompleter(Completer):
    """Completion for queries and dot commands (see the module docstring)."""

    def __init__(self, repl):
        self.repl = repl            # for ctx (case, lets, params, pipes) and dot commands
        self._paths = PathCompleter(expanduser=True)
        self._op_terminal = None
        self._cols_cache: dict = {}

    @property
    def ctx(self):
        return self.repl.ctx

    @property
    def data(self) -> CaseData:
        return self.repl.data

    # ------------------------------------------------------------ entry point
    def get_completions(self, document: Document, complete_event):
        try:
            items = list(self._completions(document, complete_event))
        except Exception:            # completion must never break the prompt
            if os.environ.get("EDRQL_DEBUG"):
                raise
            items = []
        for c in items:              # what the menu shows comes from data: terminal-safe
            yield Completion(c.text, c.start_position, display=term(c.display_text),
                             display_meta=term(c.display_meta_text), style=c.style,
                             selected_style=c.selected_style)

    def _completions(self, document: Document, complete_event):
        requested = complete_event.completion_requested
        before = document.text_before_cursor
        if before.lstrip().startswith(".") and "\n" not in before.lstrip():
            yield from self._dot(before.lstrip(), complete_event)
            return
        where = scan(before)
        if where[0] == "comment":
            return
        if where[0] == "string":
            _, start, quote, raw = where
            yield from self._values(before, start, quote, raw, document.text_after_cursor)
            return
        m = WORD_RE.search(before)
        word = m.group(0) if m else ""
        prefix = before[: len(before) - len(word)]
        if not word and not requested and not re.search(r"\|\s*$", prefix):
            return                  # while typing, pop up only on a word or after |
        if not word and prefix and not prefix[-1].isspace() and prefix[-1] not in "|(,=":
            return                  # right after a number, a string, a ) …
        cands = self.candidates(prefix, word)
        for c in rank(cands, word.lstrip("`"), exact_drop=not requested)[:MAX_SHOWN]:
            yield Completion(c.text, -len(word), display=c.display or c.text, display_meta=c.meta)

    # ------------------------------------------------------------ parser state
    def state(self, prefix: str):
        """(tokens, accepted terminals) after prefix, or None when it does not parse."""
        from lark.exceptions import UnexpectedInput
        from ..parse import parser
        try:
            ip = parser().parse_interactive(prefix)
            toks = ip.exhaust_lexer()
            return toks, ip.accepts()
        except UnexpectedInput:
            return None

    def candidates(self, prefix: str, word: str) -> list[Cand]:
        st = self.state(prefix)
        if st is None:
            return []
        toks, acc = st
        stmt = statement(toks)
        last = stmt[-1].type if stmt else None
        if word.startswith("$"):
            return [Cand("$" + p, "$" + p, "parameter = " + repr(v))
                    for p, v in sorted(self.ctx.scope.params.items())] if "PARAM" in acc else []
        if word and word[0] in "=!<>~" and not word[1:2].isalpha():
            return self._operators(acc)
        names = self._names(prefix, stmt, last) if "NAME" in acc else []
        kws = self._keywords(acc, last)
        return kws + names if last == "VBAR" else names + kws

    def _names(self, prefix: str, stmt: list, last) -> list[Cand]:
        if not stmt:
            return self._tables() + self._pipes(source=True)
        if last == "VBAR":
            return self._pipes()
        if last == "LET":
            return []
        types = [t.type for t in stmt]
        if types == ["LET", "NAME", "EQUAL"]:
            return self._tables() + self._scalars() + self._functions()
        depth, stage_at, in_by, calls = 0, 0, False, []
        for i, t in enumerate(stmt):
            if t.type == "LPAR":
                depth += 1
                calls.append(stmt[i - 1].value if i and stmt[i - 1].type == "NAME"
                             and (i < 2 or stmt[i - 2].type in ("VBAR", "LET") or i == 1) else None)
            elif t.type == "RPAR":
                depth -= 1
                calls = calls[:-1]
            elif t.type == "VBAR" and depth == 0:
                stage_at, in_by = i + 1, False
            elif t.type == "BY" and depth == 0:
                in_by = True
        kw = stmt[stage_at].type if stage_at < len(stmt) else None
        if kw in ("STATS", "SUMMARIZE") and depth == 0 and not in_by and (
                last in ("STATS", "SUMMARIZE", "COMMA") or (last == "EQUAL" and len(stmt) > 2
                                                            and stmt[-3].type in ("STATS", "SUMMARIZE", "COMMA"))):
            return self._aggregations()
        if kw == "EXTEND" and depth == 0 and last in ("EXTEND", "COMMA"):
            return []                   # a new column's name
        cols = self._columns(prefix, stmt, stage_at)
        out = []
        if calls and calls[-1] and last in ("LPAR", "COMMA") and depth:
            out += self._kwargs(calls[-1])
        out += self._fields(cols) + self._scalars()
        if not (kw == "SEARCH" or (stage_at == 0 and stmt and stmt[0].type == "SEARCH")):
            out += self._functions()
        return out

    def _columns(self, prefix: str, stmt: list, stage_at: int) -> list[str]:
        """Columns produced by the pipeline before the current stage (plan stage, no data)."""
        if stage_at == 0:
            return self.data.columns()
        first = stmt[0]
        start = first.start_pos
        if [t.type for t in stmt[:3]] == ["LET", "NAME", "EQUAL"] and len(stmt) > 3:
            start = stmt[3].start_pos
        end = stmt[stage_at - 1].start_pos
        text = prefix[start:end]
        earlier = prefix[:first.start_pos]
        key = (text, earlier, tuple(self.ctx.lets), tuple(self.ctx.scope.lets), id(self.ctx.case))
        got = self._cols_cache.get(key)
        if got is None:
            got = self._plan_columns(text, earlier)
            if len(self._cols_cache) > 256:
                self._cols_cache.clear()
            self._cols_cache[key] = got
        return got

    def _plan_columns(self, text: str, earlier: str) -> list[str]:
        from .. import ast as A
        from ..errors import ParseError, QueryError
        from ..parse import parse
        from .planning import planner
        pl = planner(self.ctx)
        try:
            if earlier.strip():
                pl.check(parse(earlier))
        except (ParseError, QueryError):
            pass
        try:
            sts = parse(text)
            if len(sts) == 1 and isinstance(sts[0], A.Pipeline):
                cols = pl.pipeline(sts[0])
                if cols is not None:
                    return list(cols)
        except (ParseError, QueryError):
            pass
        return self.data.columns()

    # ------------------------------------------------------------ candidate lists
    def _tables(self) -> list[Cand]:
        # ---- tables: the catalog's (edrql/catalog.py), then pipe tables and lets
        out = [Cand(n, n, (t.hint or t.doc)[:60]) for n, t in catalog.TABLES.items()
               if catalog.available(self.ctx, t)]
        out += [Cand(n, n, "table") for n in catalog.pipe_tables(self.ctx)]
        out += [Cand(n, n, f"let: {t.num_rows:,} rows") for n, t in self.ctx.lets.items()]
        return out

    def _pipes(self, source: bool = False) -> list[Cand]:
        out = []
        for n, fn in self.ctx.pipes.items():
            if getattr(fn, "is_table", False):
                continue
            doc = STAGES[n].doc if n in STAGES else ""
            out.append(Cand(n + "(", n, doc[:60], display=n + "()"))
        return out if not source else [c for c in out if c.key in ("tree", "children",
                                                                      "descendants", "ancestors",
                                                                      "pidreuse")]

    def _aggregations(self) -> list[Cand]:
        return [Cand(a.name + "(", a.name, a.doc[:60], display=a.name + "()")
                for a in AGGREGATIONS.values()]

    def _functions(self) -> list[Cand]:
        return [Cand(f.name + "(", f.name, f.doc[:60], display=f.name + "()")
                for f in FUNCTIONS.values()]

    def _scalars(self) -> list[Cand]:
        return [Cand(n, n, "let = " + str(v.as_py())[:40]) for n, v in self.ctx.scope.lets.items()]

    def _fields(self, cols: list[str]) -> list[Cand]:
        types = self.data.types()
        norm = [c for c in cols if not c.startswith("raw.")]
        raw = [c for c in cols if c.startswith("raw.")]
        return [Cand(c if NAME_RE.fullmatch(c) else f"`{c}`", c, types.get(c, ""))
                for c in norm + raw]

    def _kwargs(self, pipe: str) -> list[Cand]:
        st = STAGES.get(pipe)
        if not st:
            return []
        names = dict.fromkeys(re.findall(r"([A-Za-z_]+)=", st.syntax))
        return [Cand(n + "=", n, f"{pipe}() argument") for n in names]

    def _op_terminals(self) -> dict[str, str]:
        if self._op_terminal is None:
            from ..parse import parser
            terms = parser().terminals
            m = {}
            for name in OPERATORS:
                for t in terms:
                    if t.pattern.type == "str" and t.pattern.value == name:
                        m[name] = t.name
                        break
                    if t.pattern.type == "re" and t.name not in ("NAME",) and \
                            re.fullmatch(t.pattern.to_regexp(), name):
                        m[name] = t.name
                        break
            self._op_terminal = m
        return self._op_terminal

    def _operators(self, acc) -> list[Cand]:
        return [Cand(n, n, OPERATORS[n].doc[:60]) for n, term in self._op_terminals().items()
                if term in acc]

    def _keywords(self, acc, last) -> list[Cand]:
        from ..parse import parser
        out = self._operators(acc)
        ops = {c.text for c in out}
        words = []
        for t in acc:
            if t == "DIRECTION":
                words += ["asc", "desc"]
                continue
            if t == "NULLS":                 # ---- KQL: sort by x desc nulls first
                words += ["nulls first", "nulls last"]
                continue
            try:
                pat = parser().get_terminal(t).pattern
            except KeyError:
                continue
            if pat.type == "str" and pat.value[0].isalpha() and pat.value not in ops:
                words.append(pat.value)
        stage_words = [w for w in words if w in STAGES]
        other = sorted(w for w in words if w not in STAGES)
        order = list(STAGES)
        kw = [Cand(w, w, STAGES[w].doc[:60]) for w in sorted(stage_words, key=order.index)]
        kw += [Cand(w, w, "keyword") for w in other]
        # after | the stages come first; after an expression the operators
        return kw + out if last == "VBAR" else out + kw

    # ------------------------------------------------------------ values
    def _values(self, before: str, start: int, quote: str, raw: bool, after: str):
        partial = before[start + 1:]
        qstart = start - 1 if raw else start
        st = self.state(before[:qstart])
        if st is None:
            return
        toks, _ = st
        stmt = statement(toks)
        field = value_field(stmt)
        if field is None:
            return
        table = self._value_table(stmt, field)
        if table is None:
            return
        from ..names import resolve_column
        col = resolve_column(field, table.column_names)
        if col is None:
            return
        vals = self.data.values(table, col)
        close = "" if after.startswith(quote) else quote
        cands = (Cand(v, v, f"{n:,}") for v, n in vals if not raw or writable_raw(v, quote))
        typed = partial if raw else re.sub(r"\\(.)", r"\1", partial)
        for c in rank(cands, typed)[:MAX_SHOWN]:
            c.text = escape(c.key, quote, raw) + close
            yield Completion(c.text, -len(partial), display=c.key, display_meta=c.meta)

    def _value_table(self, stmt, field: str = ""):
        """The table whose values to offer: the pipeline's source (events when unknown)."""
        ctx = self.ctx
        src = stmt[3] if [t.type for t in stmt[:3]] == ["LET", "NAME", "EQUAL"] and len(stmt) > 3 \
            else (stmt[0] if stmt else None)
        name = src.value if src is not None and src.type == "NAME" else "events"
        if name in ctx.lets:
            return ctx.lets[name]
        if name == "quarantine":
            return ctx.case.quarantine
        if name == "procs" and getattr(ctx.case, "_lineage", None) is not None:
            return ctx.case.lineage.procs
        if name in devtables.TABLES:      # ---- tables: a Device* table builds just that column
            return devtables.table(ctx.case, name, {field}, getattr(ctx, "memo", None),
                                   getattr(ctx, "encoding", None))
        return ctx.case.events

    # ------------------------------------------------------------ dot commands
    def _dot(self, text: str, event):
        from .dotcmds import COMMANDS, arg_choices
        parts = text.split(" ", 1)
        if len(parts) == 1:
            word = parts[0]
            cands = [Cand("." + c.name, "." + c.name, c.summary[:60]) for c in COMMANDS.values()]
            for c in rank(cands, word, exact_drop=not event.completion_requested):
                yield Completion(c.text, -len(word), display_meta=c.meta)
            return
        name, arg = parts[0][1:], parts[1]
        cmd = COMMANDS.get(name)
        if cmd is None:
            return
        if cmd.arg == "path":
            word = arg.split(" ")[-1] if name == "ingest" else arg
            yield from self._paths.get_completions(Document(word, len(word)), event)
            return
        word = arg.split(" ")[-1]
        if " " in arg and name != "help":
            return
        choices = arg_choices(self.repl, cmd)
        for c in rank([Cand(v, v, m) for v, m in choices], word,
                      exact_drop=not event.completion_requested):
            yield Completion(c.text, -len(word), display_meta=c.meta)
