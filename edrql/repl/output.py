"""What the REPL prints: results fitted to the terminal (tables, process trees,
the expanded display of wide results, csv/json/…), capped at 1,000 rows with a
line saying how to get the rest; notes, search receipts and tree footers; a
timing line; results taller than the screen (in screen lines, wrapped lines
counted) through a pager; ``.output``/``.once`` files get every row, exactly.

Everything written to the terminal is terminal-safe (``safetext``): table and
tree bodies are escaped by ``render``/``treeview``, the expanded display by
``expanded``; the rest (messages, notes, footers, dot-command output, csv/json
shown on screen) here, with :func:`safetext.term_lines`.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading

from ..errors import QueryError
from ..execute import Result, footer_lines
from ..render import format_for_path
from ..safetext import term, term_lines
from .expanded import expanded_text, screen_lines, use_expanded

CAP = 1000
FORMATS = ["table", "csv", "tsv", "json", "ndjson", "mermaid", "dot"]

DIM, RED, BOLD, RESET = "\x1b[2m", "\x1b[31m", "\x1b[1m", "\x1b[0m"


def is_tree(r: Result) -> bool:
    return r.kind == "tree" and {"depth", "proc", "name"} <= set(r.table.column_names)


def more_line(total: int, shown: int) -> str:
    more = total - shown
    return (f"… {more:,} more row(s) not shown ({total:,} in all); to export them all: "
            f".once FILE.csv then .last, or add | save \"file.csv\" to the query\n") if more > 0 else ""


def body_text(r: Result, fmt: str, width: int | None, cap: int | None, ascii_only: bool = False,
              screen: bool = False) -> str:
    """The result in fmt, at most cap rows (None: all), ending with a newline.

    screen: for the terminal (csv/json/… escaped; files get the exact value)."""
    from .. import treeview
    from ..render import render, to_table
    t = r.table
    total = t.num_rows
    shown = t if cap is None or total <= cap else t.slice(0, cap)
    if fmt in ("mermaid", "dot"):
        if not is_tree(r):
            raise QueryError(f".format {fmt} draws process trees: end the query with tree(), "
                             "or .format table")
        return treeview.mermaid(t) if fmt == "mermaid" else treeview.dot(t)
    if fmt == "table" and is_tree(r):
        body = treeview.text(shown, width, ascii_only=ascii_only) + "\n"
    elif fmt == "table" and total == 0:
        cols = ", ".join(term(c) for c in t.column_names)
        line = f"(no rows)  {t.num_columns} column(s): {cols}"
        body = (line if not width or len(line) <= width else line[: width - 1] + "…") + "\n"
    elif fmt == "table":
        body = to_table(shown, width, max_rows=None) + "\n"
    else:
        data = render(shown, fmt, max_rows=None)
        body = data.decode("utf-8") if isinstance(data, bytes) else data
        if screen:
            body = term_lines(body)
    return body + more_line(total, shown.num_rows)


def expanded_body(r: Result, width: int, cap: int, auto: bool) -> str:
    """The expanded display of a result: a note (auto mode), the records, hidden-character
    and more-rows lines."""
    t = r.table
    shown = t if t.num_rows <= cap else t.slice(0, cap)
    text, hidden = expanded_text(shown, width)
    head = ""
    if auto:
        head = (f"(expanded display: {t.num_columns} columns do not fit {width} characters; "
                ".expanded off or | project COLUMNS for a table)\n")
    if hidden:
        text += (f"{hidden:,} record(s) hold hidden characters, shown as ⟨ESC⟩, ⟨RLO⟩, ⟨x81⟩ …; "
                 ".once FILE.csv or FILE.json keeps the exact value\n")
    return head + text + more_line(t.num_rows, shown.num_rows)


def file_format(path: str, fmt: str) -> str:
    return format_for_path(path) or fmt


class Printer:
    """Writes to the REPL's stream (a terminal, or a StringIO in tests)."""

    def __init__(self, stream, size=None):
        self.stream = stream
        self.size = size or (lambda: tuple(shutil.get_terminal_size((120, 40))))  # (cols, rows)
        self.pager = True
        self.expanded = "auto"        # auto | on | off (.expanded)
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    # ------------------------------------------------------------ plain text
    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def line(self, text: str = "", style: str = "", escaped: bool = False) -> None:
        """One line (or a few); escaped: the text is already terminal-safe."""
        text = text if escaped else term_lines(text)
        if style and self.tty:
            text = style + text + RESET
        self.write(text + "\n")

    def info(self, text: str) -> None:
        self.line(text, DIM)

    def error(self, text: str, escaped: bool = False) -> None:
        self.line(text, RED, escaped)

    def notice(self, text: str) -> None:
        """Something the analyst must not miss (the case changed under the session)."""
        self.line(text, BOLD)

    def show(self, text: str, escaped: bool = False) -> None:
        """Text taller than the screen through the pager (on a terminal), else straight out.

        escaped: text is already terminal-safe (rendered results); else it is escaped here."""
        if not escaped:
            text = term_lines(text)
        if not text.endswith("\n"):
            text += "\n"
        cols, rows = self.size()
        if self.tty and self.pager and screen_lines(text, cols) > rows - 2 and self._page(text):
            return
        self.write(text)

    def _page(self, text: str) -> bool:
        cmd = pager_command()
        if cmd is None:
            return False
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            self.stream.flush()
            subprocess.run(cmd, input=text.encode("utf-8", "replace"), check=False)
            return True
        except OSError:
            return False
        finally:
            if main:
                signal.signal(signal.SIGINT, old)

    # ------------------------------------------------------------ results
    def result(self, r: Result, fmt: str, heading: str | None = None) -> None:
        cols, _ = self.size()
        enc = (getattr(self.stream, "encoding", None) or "utf-8").lower()
        if fmt == "table" and not is_tree(r) and r.table.num_rows and \
                use_expanded(self.expanded, r.table.slice(0, CAP), cols):
            body = expanded_body(r, cols, CAP, auto=self.expanded == "auto")
        else:
            body = body_text(r, fmt, cols if fmt == "table" else None, CAP,
                             ascii_only="utf" not in enc, screen=True)
        foot = term_lines("\n".join(footer_lines(r)))
        text = (f"== {term(heading)} ==\n" if heading else "") + body
        if foot and self.tty:
            text += DIM + foot + RESET + "\n"
        elif foot:
            text += foot + "\n"
        self.show(text, escaped=True)

    def to_file(self, r: Result, path: str, fmt: str, append: bool) -> str:
        ff = file_format(path, fmt)
        body = body_text(r, ff, None, None)
        with open(path, "a" if append else "w", encoding="utf-8", newline="") as fh:
            fh.write(body)
            if ff == "table":
                for line in footer_lines(r):
                    fh.write(line + "\n")
        return f"{r.table.num_rows:,} row(s) written to {os.path.abspath(path)} ({ff})"


def pager_command() -> list[str] | None:
    env = os.environ.get("PAGER")
    if env is not None:
        try:
            cmd = shlex.split(env)
        except ValueError:
            cmd = []
        return cmd or None
    if shutil.which("less"):
        return ["less", "-RS"]
    if shutil.which("more") and sys.platform != "win32":
        return ["more"]
    return None
