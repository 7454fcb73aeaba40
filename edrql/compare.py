"""Comparisons of the expression evaluator: ==, <, … with KQL's coercions (a string
literal against a time is a time, text against a number is numbers), the string predicates
(contains, has, startswith, matches regex …), in / in~ / has_any / has_all and between,
the host-name rule (edrql/hostnames.py), and the missing-text rule (edrql/strops.py).

``Comparisons`` is a base class of ``expr.Evaluator``: its methods read the evaluator's
``table``, ``scope``, ``eval`` and string-encoding cache (``_dictionary``, ``_on_values``).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from . import ast as A
from . import strops
from .errors import QueryError
from .fnlib.numtext import as_number
from .fnlib.textcast import as_text
from .names import resolve_column
from .segcodec import plain as plain_text
from .schema import TS
from .strops import re2_literal


def is_str(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _lower(a):
    if isinstance(a, pa.Scalar):
        return pa.scalar(a.as_py().lower(), a.type) if a.is_valid else a
    return pc.utf8_lower(a)


EQUALITY = ("==", "!=", "=~", "!~", "===", "!==")


def _equality(op: str, r: pa.Scalar):
    """The predicate of ``values <op> r`` on text (case-insensitive for == != =~ !~)."""
    ci = op in ("==", "!=", "=~", "!~")
    want = r.as_py()
    neg = op in ("!=", "!~", "!==")

    def pred(values):
        if not r.is_valid:
            return pa.nulls(len(values), pa.bool_())
        if ci and _cased(want):
            m = pc.equal(pc.utf8_lower(values), pa.scalar(want.lower(), pa.string()))
        else:
            m = pc.equal(values, r)
        return pc.invert(m) if neg else m
    return pred


def _cased(s: str) -> bool:
    return s.lower() != s.upper()


def time_scalar(text: str, tz: str, pos: A.Pos) -> pa.Scalar:
    from .normalize import Ctx, parse_time
    arr, _ = parse_time(pa.array([text], pa.string()), Ctx(tz=tz))
    if not arr[0].is_valid:
        raise QueryError(f"not a time: {text!r}", pos,
                         "use ISO 8601, e.g. 2023-08-10T14:00:00Z or \"2023-08-10 14:00\"")
    return arr[0]


class Comparisons:
    """Comparison operators of the Evaluator (mixed into expr.Evaluator)."""

    def _coerce(self, l, r, e):
        lt, rt = l.type, r.type
        if pa.types.is_timestamp(lt) and is_str(rt):
            return l, self._to_time(r, e.right if hasattr(e, "right") else e)
        if pa.types.is_timestamp(rt) and is_str(lt):
            return self._to_time(l, e.left if hasattr(e, "left") else e), r
        if pa.types.is_date(lt) and is_str(rt):
            return l, self._to_date(r, e)
        if pa.types.is_date(rt) and is_str(lt):
            return self._to_date(l, e), r
        num = lambda t: pa.types.is_integer(t) or pa.types.is_floating(t)  # noqa: E731
        if num(lt) and is_str(rt) and isinstance(r, pa.Scalar):
            return l, self._to_num(r, e)
        if num(rt) and is_str(lt) and isinstance(l, pa.Scalar):
            return self._to_num(l, e), r
        if is_str(lt) and num(rt):             # raw.RemotePort > 1000: numbers, not text order
            return self._numbers(getattr(e, "left", getattr(e, "expr", None)), l), r
        if is_str(rt) and num(lt):
            return l, self._numbers(getattr(e, "right", None), r)
        return l, r

    def _numbers(self, expr, v):
        """Text read as numbers (on the distinct values when the column's encoding is cached)."""
        enc = self._dictionary(expr)
        return as_number(v) if enc is None else pc.take(as_number(enc.dictionary), enc.indices)

    def _to_time(self, v, e):
        if isinstance(v, pa.Scalar):
            return time_scalar(v.as_py(), self.scope.tz, getattr(e, "pos", A.NOPOS)) \
                if v.is_valid else pa.scalar(None, TS)
        from .normalize import Ctx, parse_time
        arr, _ = parse_time(v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v,
                            Ctx(tz=self.scope.tz))
        return arr

    def _to_date(self, v, e):
        try:
            return pc.cast(v, pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise QueryError("not a date (write 2023-08-10)", e.pos) from None

    def _to_num(self, s, e):
        if not s.is_valid:
            return pa.scalar(None, pa.int64())
        text = s.as_py()
        try:
            return pa.scalar(int(text, 0) if text.lower().startswith("0x") else int(text),
                             pa.int64())
        except (ValueError, AttributeError, OverflowError):
            try:
                return pa.scalar(float(text), pa.float64())
            except (ValueError, TypeError):
                raise QueryError(f"cannot compare a number with {text!r}", e.pos) from None

    def _host(self, op, expr, l, wants):
        """``host`` compared under the host-name rule of edrql/hostnames.py, or None."""
        col = resolve_column(expr.name, self.columns) if isinstance(expr, A.Field) else None
        if col is None or col.lower() != "host" or isinstance(l, pa.Scalar) or not is_str(l.type) \
                or not all(isinstance(w, pa.Scalar) and is_str(w.type) and w.is_valid for w in wants):
            return None
        names = [w.as_py() for w in wants if w.as_py() != ""]     # ---- strops: "" is a
        if not names:                                             # missing host, not a name
            return None
        from . import hostnames
        enc = self._dictionary(expr)                          # compare on the distinct hosts
        out, note = hostnames.compare(l, enc, names, op)
        if note and note not in self.notes:
            self.notes.append(note)
        return strops.or_missing(out, l, len(names) < len(wants), op.startswith("!"))

    def _coded_equality(self, op, e):
        """``field == "text"`` (and the other equalities) for a dictionary-coded field that is
        not ``host``: the text tested on the field's distinct values, the rows never decoded.
        The same answer as ``_compare`` on the decoded rows (which takes this very path once it
        has decoded them); None when the case does not apply, with the right side evaluated."""
        if op not in EQUALITY or not isinstance(e.left, A.Field):
            return None, None
        name = resolve_column(e.left.name, self.columns)
        if name is None or name.lower() == "host" or self._dictionary(e.left) is None:
            return None, None
        r = self.eval(e.right)
        if not (isinstance(r, pa.Scalar) and is_str(r.type)):
            return None, r
        pred = _equality(op, r)
        return strops.text_as_empty(self._on_values(e.left, pred), pred), r

    def _compare(self, op, l, r, e):
        if op in EQUALITY:
            host = self._host(op, e.left, l, [r])
            if host is None and isinstance(l, pa.Scalar):            # "pc-01" == host
                host = self._host(op, e.right, r, [l])
            if host is not None:
                return host
        l, r = self._coerce(l, r, e)
        if op in EQUALITY and isinstance(r, pa.Scalar) and \
                is_str(r.type) and not isinstance(l, pa.Scalar) and is_str(l.type):
            ci = op in ("==", "!=", "=~", "!~")
            want = r.as_py()
            neg = op in ("!=", "!~", "!==")
            pred = _equality(op, r)
            out = self._on_values(e.left, pred)
            if out is None and ci and r.is_valid and _cased(want) and len(l) > 50_000:
                m = pc.match_substring_regex(l, "^" + re2_literal(want) + "$", ignore_case=True)
                out = pc.invert(m) if neg else m
            return strops.text_as_empty(out if out is not None else pred(l), pred)
        ci = op in ("==", "!=", "=~", "!~")
        if is_str(l.type) and is_str(r.type):             # ---- strops: missing text is ""
            l, r = strops.fill_text(l), strops.fill_text(r)
        if ci and is_str(l.type) and is_str(r.type):
            if not (isinstance(r, pa.Scalar) and r.is_valid and not _cased(r.as_py())):
                l, r = _lower(l), _lower(r)
        fn = {"==": pc.equal, "=~": pc.equal, "===": pc.equal, "!=": pc.not_equal,
              "!~": pc.not_equal, "!==": pc.not_equal, "<": pc.less, "<=": pc.less_equal,
              ">": pc.greater, ">=": pc.greater_equal}[op]
        try:
            out = fn(l, r)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            raise QueryError(f"cannot compare {l.type} with {r.type} using {op}", e.pos) from None
        if op in EQUALITY:                                    # ---- strops: KQL's null rule
            out = strops.null_unequal(out, l, r, op in ("!=", "!~", "!=="))
        return out

    def _strop(self, base, l, r, e):
        if not isinstance(r, pa.Scalar):
            raise QueryError(f"the right side of {base} must be a constant", e.right.pos)
        if not r.is_valid:
            return pa.nulls(len(l), pa.bool_()) if not isinstance(l, pa.Scalar) else pa.scalar(None, pa.bool_())
        cs = base.endswith("_cs")
        kind = base.removesuffix("_cs")
        if l.type == pa.null():
            l = l.cast(pa.string())
        if not (is_str(r.type) or pa.types.is_integer(r.type) or pa.types.is_floating(r.type)
                or pa.types.is_boolean(r.type)):
            raise QueryError(f"{kind} needs text on the right, got {r.type}", e.right.pos)
        pat = str(r.as_py())                # (l is made text only if the rows are read)
        if kind == "like":                                  # ---- EQL wildcards
            return self._like(e.left, l, [pat], cs)
        if kind == "matches":
            def pred(values):
                return pc.match_substring_regex(values, pat, ignore_case=not cs)
            try:
                out = self._on_values(e.left, pred)
                return strops.text_as_empty(out if out is not None else pred(as_text(l)), pred)
            except pa.ArrowInvalid as x:
                raise QueryError(f"bad regular expression: {x}", e.right.pos,
                                 "RE2 syntax; no backreferences or lookaround") from None
        if kind in strops.TERM_KINDS:                       # ---- strops: has, hasprefix …
            if not pat:
                raise QueryError(f'{kind} needs a term: "" has none', e.right.pos,
                                 strops.EMPTY_TERM_HINT)
            term = strops.term_pattern(pat, kind)

            def pred(values):
                return pc.match_substring_regex(values, term, ignore_case=not cs)
        else:
            fn = {"contains": pc.match_substring, "startswith": pc.starts_with,
                  "endswith": pc.ends_with}[kind]
            ic = not cs and _cased(pat)

            def pred(values):
                return fn(values, pat, ignore_case=ic)
        out = self._on_values(e.left, pred)
        return strops.text_as_empty(out if out is not None else pred(as_text(l)), pred)

    def _InList(self, e: A.InList):
        if e.op.lstrip("!").startswith("has_"):
            return self._has_list(e)
        if e.op.lstrip("!").startswith("like"):             # ---- EQL wildcards: a list
            return self._like_list(e)
        l = self.eval(e.expr)
        vals = [self.eval(i) for i in e.items]
        if any(not isinstance(v, pa.Scalar) for v in vals):  # ---- EQL: columns in the list
            return self._in_columns(e, vals)
        vals = strops.flatten_items(vals)                   # ---- strops: a let list
        if l.type == pa.null():                             # null in (…): unknown, as null == …
            return pa.scalar(None, pa.bool_())
        op = e.op.replace("~", "")                          # in~ is in: case-insensitive
        host = self._host(op, e.expr, l, vals)
        if host is not None:
            return host
        cs = e.op.endswith("_cs")
        num = [v for v in vals if v.is_valid]
        if is_str(l.type) and num and all(pa.types.is_integer(v.type) or
                                          pa.types.is_floating(v.type) for v in num):
            l = self._numbers(e.expr, l)                    # raw.EventID in (4688, 1)
        if pa.types.is_timestamp(l.type):
            vals = [self._to_time(v, e) if is_str(v.type) else v for v in vals]
            if any(v.is_valid and not pa.types.is_timestamp(v.type) for v in vals):
                raise QueryError("in (…) on a timestamp needs times", e.pos,
                                 'e.g. ts in ("2023-08-10T14:00:00Z")')
            vset = pa.array([v.cast(TS).value if v.is_valid else None for v in vals],
                            pa.int64()).cast(l.type)
        elif pa.types.is_integer(l.type) or pa.types.is_floating(l.type):
            vals = [self._to_num(v, e) if is_str(v.type) else v for v in vals]
            if any(v.is_valid and not (pa.types.is_integer(v.type) or pa.types.is_floating(v.type))
                   for v in vals):
                raise QueryError("in (…) on a number needs numbers", e.pos, "e.g. pid in (4, 0x1d18)")
            floats = any(pa.types.is_floating(v.type) for v in vals) or \
                pa.types.is_floating(l.type)
            vset = pa.array([None if not v.is_valid else float(v.as_py()) if floats else v.as_py()
                             for v in vals], pa.float64() if floats else pa.int64())
            if floats:
                l = pc.cast(l, pa.float64(), safe=False)     # 2**63-1 has no exact float
        else:
            l = as_text(l) if l.type != pa.null() else l.cast(pa.string())
            texts = [None if not v.is_valid else str(v.as_py()) for v in vals]
            if not cs:
                texts = [t.lower() if t is not None else None for t in texts]
            vset = pa.array(texts, pa.string())

            def pred(values):
                return pc.is_in(values if cs else pc.utf8_lower(values), value_set=vset)
            via = self._on_values(e.expr, pred)
            # missing text is "": filled only when the rows are read (the distinct-value path
            # answers for it through text_as_empty)
            out = strops.text_as_empty(via if via is not None else pred(strops.fill_text(l)), pred)
            return pc.invert(out) if e.op.startswith("!") else out
        out = pc.is_in(l, value_set=vset)        # a missing value is in no list (KQL: unequal)
        out = pc.if_else(pc.is_null(l), pa.scalar(False), out) \
            if not isinstance(l, pa.Scalar) else pa.scalar(out.as_py() is True and l.is_valid)
        return pc.invert(out) if e.op.startswith("!") else out

    # ---- EQL (issue 14): wildcards (like, :) and columns in the list of in (…)
    def _like(self, expr, l, patterns: list[str], cs: bool):
        """``x like (patterns)``: on the distinct values of a coded column; a missing value
        matches no pattern (false, as EQL: ``x : "*"`` tests that x is present)."""
        from .fnlib.eqlfuncs import like_pred
        pred = like_pred(patterns, cs)
        if isinstance(l, pa.Scalar):
            return pa.scalar(bool(l.is_valid and pred(as_text(pa.array([l.as_py()], l.type)))[0]
                                  .as_py()))
        if l.type == pa.null():
            return pa.repeat(pa.scalar(False), len(l))
        out = self._on_values(expr, pred) if isinstance(expr, A.Field) else None
        return pc.fill_null(out if out is not None else pred(as_text(plain_text(l))), False)

    def _like_list(self, e: A.InList):
        vals = strops.flatten_items([self.eval(i) for i in e.items])
        if any(not isinstance(v, pa.Scalar) for v in vals):
            raise QueryError(f"the patterns of {e.op.lstrip('!')} (...) must be constants", e.pos,
                             'e.g. name like ("cmd*", "power*.exe")')
        pats = [str(v.as_py()) for v in vals if v.is_valid]
        l = self._coded(e.expr) if isinstance(e.expr, A.Field) and \
            self._dictionary(e.expr) is not None else self.eval(e.expr)
        out = self._like(e.expr, l, pats, e.op.endswith("_cs"))
        return pc.invert(out) if e.op.startswith("!") else out

    def _in_columns(self, e: A.InList, vals):
        """``x in (col, "a", …)``: row-wise, as ``x == col or x in ("a", …)``; a row where
        every comparison is unknown is not in the list (false), as a missing value."""
        cs = e.op.endswith("_cs")
        positive = e.op.lstrip("!")
        consts = [i for i, v in zip(e.items, vals) if isinstance(v, pa.Scalar)]
        parts = [pc.fill_null(self._InList(A.InList(e.expr, consts, positive, e.pos)), False)] \
            if consts else []
        for item, v in zip(e.items, vals):
            if not isinstance(v, pa.Scalar):
                parts.append(pc.fill_null(self.eval(A.Binary("===" if cs else "==", e.expr,
                                                             item, item.pos)), False))
        out = parts[0]
        for p in parts[1:]:
            out = pc.or_(out, p)
        return pc.invert(out) if e.op.startswith("!") else out

    # ---- strops: has_any / has_all
    def _has_list(self, e: A.InList):
        l = self.eval(e.expr)
        vals = [self.eval(i) for i in e.items]
        if any(not isinstance(v, pa.Scalar) for v in vals):
            raise QueryError(f"the list of {e.op} (...) must hold constants", e.pos)
        needles = [str(v.as_py()) for v in strops.flatten_items(vals) if v.is_valid]
        if "" in needles:
            raise QueryError(f'{e.op.lstrip("!")} needs terms: "" has none', e.pos,
                             strops.EMPTY_TERM_HINT)
        if l.type == pa.null():
            l = l.cast(pa.string())
        l = as_text(l)
        fn = strops.has_all if e.op.lstrip("!") == "has_all" else strops.has_any

        def pred(values):
            return fn(values, needles)
        if isinstance(l, pa.Scalar):
            out = pred(pa.array([l.as_py()], pa.string()))[0]
        else:
            via = self._on_values(e.expr, pred)
            out = via if via is not None else pred(l.combine_chunks()
                                                   if isinstance(l, pa.ChunkedArray) else l)
        out = strops.text_as_empty(out, pred)
        return pc.invert(out) if e.op.startswith("!") else out

    def _Between(self, e: A.Between):
        v, lo, hi = self.eval(e.expr), self.eval(e.low), self.eval(e.high)
        v1, lo = self._coerce(v, lo, e)
        v2, hi = self._coerce(v1, hi, e)                    # v1: text read as numbers once
        hi = strops.span_bound(lo, hi)                      # ---- strops: (t .. 1h)
        if is_str(v1.type) and is_str(lo.type) and is_str(hi.type):
            v1 = v2 = strops.fill_text(v1)                  # missing text is ""
        try:
            out = pc.and_kleene(pc.greater_equal(v1, lo), pc.less_equal(v2, hi))
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            raise QueryError(f"between cannot compare {v.type} with {lo.type} .. {hi.type}",
                             e.pos) from None
        return pc.invert(out) if e.negate else out
