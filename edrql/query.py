"""Batch runs: parse → check → execute → render, for ``-c``, ``-f`` and saved scripts."""
from __future__ import annotations

import json
import sys
import time

from .errors import ParseError, QueryError, format_error
from .execute import Context, Result, default_pipes, run
from .expr import Scope
from .plan import check
from .reftime import RefTime, parse_setting
from .render import render
from .safetext import term, term_lines


def error_text(e: Exception, text: str, origin: str = "") -> str:
    """A user mistake as one message with position, the line, a caret and a hint — safe
    for a terminal: the query text and any value quoted in the message are escaped
    (``⟨ESC⟩``…) and the caret stays under the escaped token."""
    where = f"{term(origin)}: " if origin and origin not in ("-c",) else ""
    if isinstance(e, ParseError):
        return where + _at(e.message, text, e.line, e.column, e.hint)
    if isinstance(e, QueryError):
        p = e.pos
        if p.line:
            width = (p.end_column - p.column) if p.end_line == p.line and p.end_column > p.column else 1
            return where + _at(e.message, text, p.line, p.column, e.hint, width)
        return where + term_lines(e.message) + (f"\nhint: {term_lines(e.hint)}" if e.hint else "")
    return where + term_lines(str(e))


def _at(message: str, text: str, line: int, column: int, hint: str = "", width: int = 1) -> str:
    """errors.format_error's layout on escaped text: the position is the one in the user's
    text, the caret is under the token as it is shown."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return format_error(term_lines(message), "", line, column, term_lines(hint or ""))
    src = lines[line - 1].removesuffix("\r").expandtabs(1)
    pre, tok = term(src[:max(column - 1, 0)]), term(src[max(column - 1, 0):max(column - 1, 0) + width])
    out = [f"line {line}, column {column}: {term_lines(message)}", "  " + term(src),
           "  " + " " * len(pre) + "^" * max(len(tok), 1)]
    if hint:
        out.append(f"hint: {term_lines(hint)}")
    return "\n".join(out)


def make_context(case, params=None, tz="UTC", now=None, now_how="--now") -> Context:
    """``now``: the reference time of now()/ago() (reftime.parse_setting: None or "end" is
    the end of the case's data, "wall" the real clock, else a time); ``now_how`` names in
    the footer what sets it (``--now``, ``.now``, ``now=``)."""
    cache = case.__dict__.setdefault("_dict_cache", {}) if hasattr(case, "__dict__") else {}
    stable = _LoadedEvents(case) if hasattr(case, "_events") else \
        ([case.events] if hasattr(case, "events") else [])
    persist = encodings_store(case) if hasattr(case, "root") and hasattr(case, "manifest") else None
    ctx = Context(case, Scope(params=dict(params or {}), tz=tz, cache=cache, stable=stable,
                              persist=persist,
                              reftime=RefTime(case, parse_setting(now, tz), now_how)))
    ctx.pipes.update(default_pipes())
    from .lazypipes import pipes as module_pipes   # lineage, network: imported when they run
    ctx.pipes.update(module_pipes())
    return ctx


class _LoadedEvents:
    """The case's events table as the one long-lived table, once something has read it: a
    query that never reads the events (``procs | …``) does not load them for this."""

    def __init__(self, case):
        self.case = case

    def __iter__(self):
        ev = getattr(self.case, "_events", None)
        return iter([] if ev is None else [ev])


def encodings_store(case):
    """String-column encodings kept in ``CASE/derived/`` (keyed by the case's segments), so a
    later run — a batch ``-c`` included — reuses them instead of encoding the column again.
    Only a case of the old layout (format 1: plain string columns) needs them: the compact
    store's text columns are dictionary-encoded already (expr._stored_dictionary): nothing
    is hashed or imported for it until a column asks."""
    import os

    import pyarrow as pa
    d = os.path.join(case.root, "derived")
    stamp: list[str] = []

    def store(column: str, make):
        import hashlib
        from .caselock import open_sink
        from .store import segments_stamp
        if not stamp:
            stamp.append(segments_stamp(case.manifest))
        safe = hashlib.sha1(column.encode()).hexdigest()[:12]
        path = os.path.join(d, f"enc-{stamp[0]}-{safe}.arrow")
        if os.path.exists(path):
            try:
                t = pa.ipc.open_file(pa.memory_map(path, "r")).read_all()
                if t.num_columns == 0:
                    return None                       # recorded as "not worth encoding"
                return t.column(0).chunk(0)
            except (OSError, pa.ArrowInvalid):
                pass
        enc = make()
        if os.access(case.root, os.W_OK):
            try:
                os.makedirs(d, exist_ok=True)
                t = pa.table({"enc": enc}) if enc is not None else pa.table({})
                tmp = path + f".{os.getpid()}.tmp"
                with open_sink(tmp) as sink, pa.ipc.new_file(sink, t.schema) as w:
                    w.write_table(t)
                os.replace(tmp, path)
            except OSError:
                pass
        return enc
    return store


def execute_text(ctx: Context, text: str, cached: bool = False) -> list[Result]:
    """Parse, check and run ``text``; ``cached``: its parsed statements may come from (and
    go to) the user's parse cache (edrql/parsecache.py: a one-shot run skips Lark)."""
    if cached:
        from .parsecache import statements as parsed
    else:
        from .parse import parse as parsed
    statements = parsed(text)
    check(statements, ctx)
    return run(statements, ctx)


def _render(r: Result, fmt: str, tty: bool, escape: bool):
    is_tree = r.kind == "tree" and "depth" in r.table.column_names and "proc" in r.table.column_names
    if fmt in ("mermaid", "dot") or (fmt == "table" and is_tree):
        from . import treeview
    if fmt in ("mermaid", "dot"):
        if not is_tree:
            raise QueryError(f"{fmt} output (--format {fmt}, or -o FILE.{'mmd' if fmt == 'mermaid' else 'dot'}) "
                             "draws process trees: end the query with tree()")
        return treeview.mermaid(r.table) if fmt == "mermaid" else treeview.dot(r.table)
    if fmt == "table" and is_tree and "name" in r.table.column_names:
        width = None
        if tty:
            from .render import terminal_width
            width = terminal_width()
        enc = (sys.stdout.encoding or "").lower()
        return treeview.text(r.table, width, ascii_only="utf" not in enc) + "\n"
    return render(r.table, fmt, tty=tty, escape=escape)


def output_format(path: str) -> str | None:
    """The format ``-o FILE`` writes, from the file's extension (outfile.FILE_FORMATS, as
    ``save`` reads it); None when the extension names none (the caller asks for --format)."""
    from .outfile import format_for_path
    return format_for_path(path)


def run_script(case, text: str, origin: str, *, params=None, tz="UTC", fmt="table",
               output=None, escape=True, receipt_path=None, verbose=False, now=None) -> int:
    from .execute import footer_lines, pending_receipts, receipts_of
    ctx = make_context(case, params, tz, now)
    t0 = time.perf_counter()
    try:
        results = execute_text(ctx, text, cached=True)
        if fmt in ("mermaid", "dot"):
            for r in results:
                _render(r, fmt, False, escape)
    except (ParseError, QueryError) as e:
        print("edrql: " + error_text(e, text, origin), file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - t0
    try:
        out = open(output, "wb") if output else sys.stdout.buffer
    except OSError as e:
        print(f"edrql: cannot write {term(output)}: {e.strerror}", file=sys.stderr)
        return 1
    try:
        for i, r in enumerate(results):
            if fmt == "table" and len(results) > 1:
                out.write(f"{'' if i == 0 else chr(10)}== {term(r.title)} ==\n".encode())
            elif i and fmt in ("csv", "tsv"):
                out.write(b"\n")
            data = _render(r, fmt, output is None and sys.stdout.isatty(), escape)
            out.write(data if isinstance(data, bytes) else data.encode("utf-8"))
            _footer(out, footer_lines(r), fmt, verbose)
            if fmt != "table" and not verbose and r.extra.get("now"):   # ---- reference time:
                print(term_lines(r.extra["now"]["text"]), file=sys.stderr)  # said in any format
            if fmt != "table" and not verbose:      # ---- sigma: the rule receipt, in any format
                for note in r.notes:
                    if note.startswith("sigma: "):
                        print(term_lines(note), file=sys.stderr)
        left = pending_receipts(ctx)            # searches in lets no statement showed
        if left:
            _footer(out, [rc.text() for rc in left], fmt, verbose)
    finally:
        if output:
            out.close()
        else:
            out.flush()
    # a search whose statement read now()/ago() says which time it was, as the footer does
    now_of = {id(rc): r.extra["now"] for r in results if r.extra.get("now")
              for rc in receipts_of(r)}
    receipts = [dict(rc.to_dict(), **({"reference_time": now_of[id(rc)]} if id(rc) in now_of
                                      else {})) for rc in ctx.receipts]
    if receipt_path:
        try:
            with open(receipt_path, "w", encoding="utf-8") as fh:
                json.dump(receipts, fh, indent=1)
        except OSError as e:
            print(f"edrql: cannot write --receipt {receipt_path}: {e.strerror}", file=sys.stderr)
            return 1
    if verbose:
        for rc in receipts:
            if fmt == "table":
                print(json.dumps(rc), file=sys.stderr)
        print(f"{len(results)} result(s) in {elapsed * 1000:.0f} ms", file=sys.stderr)
    return 0


def _footer(out, lines: list[str], fmt: str, verbose: bool) -> None:
    """Notes and receipts: under a table; on standard error with -v for other formats."""
    if fmt == "table":
        for line in lines:
            out.write(f"{term_lines(line)}\n".encode("utf-8"))
    elif verbose:
        for line in lines:
            print(term_lines(line), file=sys.stderr)
