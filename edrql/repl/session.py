"""The REPL session: prompt loop, checking before running, running in a worker
thread so Ctrl-C cancels, and the state a session keeps (format, output file,
timing, parameters, the previous result as ``last``).
"""
from __future__ import annotations

import dataclasses
import os
import queue
import sys
import threading
import time

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.history import FileHistory, History
from prompt_toolkit.layout.processors import HighlightMatchingBracketProcessor
from prompt_toolkit.styles import Style
from prompt_toolkit.validation import ValidationError, Validator

from ..errors import ParseError, QueryError
from ..execute import Context, Result, pending_receipts, run
from ..parse import parse
from ..query import error_text, make_context
from ..safetext import term
from . import casewatch
from .casedata import CaseData
from .completer import EdrqlCompleter
from .keys import key_bindings
from .lexer import STYLE_RULES, EdrqlLexer
from .output import Printer
from .planning import planner
from .visible import ShowHiddenProcessor

PROMPT = "edrql> "
CONTINUATION = "  ...> "


def history_path() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "edrql", "history")


def error_offset(text: str, e: Exception) -> int:
    """Where in text the error points (index for the cursor)."""
    line = col = 0
    if isinstance(e, ParseError):
        line, col = e.line, e.column
    elif isinstance(e, QueryError) and e.pos.line:
        line, col = e.pos.line, e.pos.column
    if not line:
        return len(text)
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    return sum(len(x) + 1 for x in lines[: line - 1]) + min(max(col - 1, 0), len(lines[line - 1]))


class QueryValidator(Validator):
    """Parse and plan-check on Enter: errors are shown and the cursor goes to them."""

    def __init__(self, repl: "Repl"):
        self.repl = repl

    def validate(self, document) -> None:
        text = document.text
        if not text.strip() or text.lstrip().startswith("."):
            return
        if self.repl.case_changed():
            return                   # checked against the reloaded case before it runs
        try:
            planner(self.repl.ctx).check(parse(text))
        except (ParseError, QueryError) as e:
            at = error_offset(text, e)
            msg = e.message + (f"  (hint: {e.hint})" if e.hint else "")
            if "\n" in text.strip():
                row, col = document.translate_index_to_position(at)
                msg = f"line {row + 1}, column {col + 1}: {msg}"
            raise ValidationError(at, term(msg))


class Repl:
    def __init__(self, case, *, case_dir: str | None = None, opts=None, params=None, tz: str = "UTC",
                 fmt: str = "table", output_file: str | None = None, input=None, output=None,
                 stdout=None, history: History | None = None, mode: str | None = None,
                 pipes: dict | None = None, now=None):
        self._case, self._params, self._tz, self._pipes = case, params, tz, pipes
        self.now = now                        # the reference time's setting (.now, --now)
        self._ctx: Context | None = None      # built after the first prompt (reads the case)
        self._ctx_lock = threading.Lock()
        self.data = CaseData(case)
        self._stamp = casewatch.stamp(case)
        self.case_dir = case_dir
        self.opts = opts
        self.fmt = fmt
        self.timing = True
        self.output_file = output_file
        self.once_file: str | None = None
        self.last: Result | None = None
        self.mode = mode or os.environ.get("EDRQL_EDITING_MODE", "emacs")
        self._stale: threading.Thread | None = None
        self.stdout = stdout or sys.stdout
        if history is None:
            path = history_path()
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                history = FileHistory(path)
            except OSError:
                history = None
        self.completer = EdrqlCompleter(self)
        self.session = PromptSession(
            PROMPT, multiline=True, prompt_continuation=CONTINUATION, lexer=EdrqlLexer(),
            completer=self.completer, complete_in_thread=True, complete_while_typing=True,
            auto_suggest=AutoSuggestFromHistory(), history=history, key_bindings=key_bindings(),
            validator=QueryValidator(self), validate_while_typing=False,
            input_processors=[HighlightMatchingBracketProcessor(), ShowHiddenProcessor()],
            enable_history_search=False,
            style=Style.from_dict(STYLE_RULES), input=input, output=output,
            editing_mode=EditingMode.VI if self.mode == "vi" else EditingMode.EMACS,
            search_ignore_case=True, reserve_space_for_menu=8)
        self.out = Printer(self.stdout, self._size)

    # ------------------------------------------------------------ state
    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            with self._ctx_lock:
                if self._ctx is None:
                    ctx = make_context(self._case, self._params, self._tz, self.now,
                                       ".now")
                    ctx.pipes.update(self._pipes or {})
                    self._ctx = ctx
        return self._ctx

    @property
    def case(self):
        return self._ctx.case if self._ctx is not None else self._case

    def _size(self) -> tuple[int, int]:
        try:
            s = self.session.output.get_size()
            return s.columns, s.rows
        except Exception:
            import shutil
            return tuple(shutil.get_terminal_size((120, 40)))

    def set_now(self, setting) -> None:
        """.now: now() and ago() read this reference time from the next input on."""
        from ..reftime import RefTime
        self.now = setting
        self.ctx.scope.reftime = RefTime(self.case, setting, ".now")

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.session.editing_mode = EditingMode.VI if mode == "vi" else EditingMode.EMACS

    def set_case(self, case) -> None:
        """Reopened after .ingest: a new context on the new case, with the session's names."""
        old = self.ctx
        self._case, self._ctx = case, None
        self._stamp = casewatch.stamp(case)
        self.ctx.lets.update(old.lets)
        self.ctx.scope.lets.update(old.scope.lets)
        self.ctx.scope.params.update(old.scope.params)
        self.data = CaseData(case)
        self.completer._cols_cache.clear()
        threading.Thread(target=self.data.warm, daemon=True).start()

    def case_changed(self) -> bool:
        """The case's manifest on disk is not the one this session opened."""
        return self._stamp is not None and casewatch.stamp(self.case) != self._stamp

    def reload_if_changed(self) -> None:
        """Another process (edrql ingest) committed to the case: say what changed, reopen it."""
        if not self.case_changed():
            return
        from ..store import Case, CaseError
        old = self.case
        try:
            new = Case.open(old.root)
        except (CaseError, OSError, ValueError) as e:
            self._stamp = casewatch.stamp(old)       # say it once, keep the case as it was
            self.out.error(f"the case changed on disk but cannot be reopened ({e}); "
                           "still showing the case as it was opened")
            return
        if new.manifest == old.manifest:             # rewritten the same (touched, copied back)
            self._stamp = casewatch.stamp(old)
            return
        self.out.notice(casewatch.describe(old.manifest, new.manifest))
        self.set_case(new)

    def summary(self) -> str:
        t = self.case.manifest.get("totals", {})
        first, last = (t.get("first") or "")[:19], (t.get("last") or "")[:19]
        span = f"{first.replace('T', ' ')} .. {last.replace('T', ' ')} UTC" if first else "no time range"
        return (f"{t.get('hosts', 0)} host(s), {span}, {t.get('rows', 0):,} rows, "
                f"{t.get('quarantined', 0):,} quarantined, {t.get('sources', 0)} source(s)")

    def _after_first_render(self, app) -> None:
        """Read ahead (parser, columns, common values) once the prompt is on screen."""
        app.after_render -= self._after_first_render
        threading.Thread(target=self._warm, name="edrql-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.ctx
            from .lexer import _basic_lexer
            _basic_lexer()
            self.completer.state("events | ")
            self.data.warm()
        except Exception:   # read-ahead is best effort
            pass

    # ------------------------------------------------------------ loop
    def run(self) -> int:
        root = self.case_dir or self.case.root
        self.out.line(f"case {root}: {self.summary()}")
        self.out.info(".help for help, Tab completes, Ctrl-D quits")
        self.session.app.after_render += self._after_first_render
        while True:
            try:
                text = self.session.prompt()
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            if not text.strip():
                continue
            try:
                if not self.handle(text):
                    break
            except KeyboardInterrupt:
                self.out.error("interrupted")
        return 0

    def handle(self, text: str) -> bool:
        """One input: a dot command or statements. False ends the session."""
        self.reload_if_changed()
        if text.lstrip().startswith("."):
            from . import dotcmds
            return dotcmds.run(self, text)
        self.execute(text)
        return True

    # ------------------------------------------------------------ running
    def execute(self, text: str, origin: str = "") -> None:
        try:
            statements = parse(text)
            planner(self.ctx).check(statements)
        except (ParseError, QueryError) as e:
            self.out.error(error_text(e, text, origin), escaped=True)
            return
        if not statements:
            return
        self._wait_stale()
        cancel = threading.Event()
        base = self.ctx
        scope = dataclasses.replace(base.scope, lets=dict(base.scope.lets),
                                    reftime=base.scope.reftime.for_input())
        ctx = dataclasses.replace(base, scope=scope,
                                  lets=dict(base.lets), cancelled=cancel.is_set,
                                  receipts=[], receipts_shown=0)   # this input's searches only
        q: queue.Queue = queue.Queue()

        def work():
            try:
                for st in statements:
                    res = run([st], ctx)
                    q.put(("ok", res, dict(ctx.lets), dict(ctx.scope.lets)))
                left = pending_receipts(ctx)       # searches inside a let no result showed
                if left:
                    q.put(("receipts", left))
            except KeyboardInterrupt:
                q.put(("cancelled",))
            except (ParseError, QueryError) as e:
                q.put(("error", e))
            except Exception as e:   # a bug: say so without a wall of traceback
                q.put(("bug", e))
            q.put(("done",))

        worker = threading.Thread(target=work, name="edrql-query", daemon=True)
        t0 = time.perf_counter()
        shown, rows = 0, 0
        try:
            worker.start()
            while True:
                try:
                    msg = q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if msg[0] == "ok":
                    _, res, lets, scalars = msg
                    last = self.ctx.lets.get("last")
                    self.ctx.lets.clear()                 # as the statement left them (a let
                    self.ctx.lets.update(lets)            # may turn a table into a constant)
                    if last is not None:
                        self.ctx.lets["last"] = last
                    self.ctx.scope.lets.clear()
                    self.ctx.scope.lets.update(scalars)
                    if res:
                        self.emit(res, heading=len(statements) > 1)
                        shown += len(res)
                        rows += sum(r.table.num_rows for r in res)
                elif msg[0] == "receipts":
                    for rc in msg[1]:
                        self.out.info(rc.text())
                elif msg[0] == "error":
                    self.out.error(error_text(msg[1], text, origin), escaped=True)
                elif msg[0] == "bug":
                    e = msg[1]
                    if os.environ.get("EDRQL_DEBUG"):
                        import traceback
                        traceback.print_exception(e)
                    self.out.error(f"internal error: {type(e).__name__}: {e}; please report it "
                                   "(EDRQL_DEBUG=1 shows the traceback)")
                elif msg[0] == "cancelled":
                    self.out.error("cancelled")
                elif msg[0] == "done":
                    break
        except KeyboardInterrupt:
            cancel.set()
            self._stale = worker
            self.out.error("cancelled (Ctrl-C); the result is discarded")
            return
        if self.timing and shown:
            ms = (time.perf_counter() - t0) * 1000
            self.out.info(f"{shown} result(s), {rows:,} row(s) in {ms:,.0f} ms")

    def _wait_stale(self) -> None:
        """A cancelled query stops at its next stage; wait for it before starting another."""
        th, self._stale = self._stale, None
        if th is None or not th.is_alive():
            return
        self.out.info("waiting for the cancelled query to stop at its next stage (Ctrl-C: don't wait)…")
        try:
            while th.is_alive():
                th.join(0.05)
        except KeyboardInterrupt:
            self._stale = th

    def emit(self, results: list[Result], heading: bool = False) -> None:
        """Show (or write) results; the last one becomes `last`."""
        for r in results:
            try:
                if self.once_file or self.output_file:
                    path, append = (self.once_file, False) if self.once_file else (self.output_file, True)
                    self.once_file = None
                    try:
                        self.out.info(self.out.to_file(r, path, self.fmt, append))
                    except OSError as e:
                        self.out.error(f"cannot write {path}: {e.strerror}")
                else:
                    self.out.result(r, self.fmt, r.title if heading else None)
            except QueryError as e:
                self.out.error(e.message)
            self.last = r
            self.ctx.lets["last"] = r.table


def run_repl(case, *, case_dir=None, opts=None, params=None, tz="UTC", fmt="table",
             output_file=None, now=None) -> int:
    """Open the REPL on a terminal (``edrql CASE`` without -c/-f)."""
    return Repl(case, case_dir=case_dir, opts=opts, params=params, tz=tz, fmt=fmt,
                output_file=output_file, now=now).run()
