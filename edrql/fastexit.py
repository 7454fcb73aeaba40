"""The process entry point (``edrql`` and ``python -m edrql``): run the command, then, for a
one-shot query (``-c``/``-f``), flush the output and leave without tearing the interpreter
down. A query over a large case holds ~100k memory-mapped Arrow buffers, numpy arrays and
the modules that made them; freeing them one by one at exit took ~0.1 s of every run, and
nothing of it reaches the disk: the output is written and flushed (a ``-o`` file is closed
by the query itself), no lock is held, no writer runs. Ingest, check and the REPL exit the
normal way (their files and locks close as they always did).

A one-shot query also starts with Python's cycle collector off: start-up (pyarrow, numpy,
Lark's tables, edrql's modules, the case's schema) allocates ~50k long-lived objects, and
collecting among them, ~100 times before the query even ran, took 20-40 ms of every run
while finding nothing to free. When start-up is over (``cli.started``: modules imported,
parser loaded, case opened) those objects are frozen out of the collector's view
(``gc.freeze``) and collection resumes for the query's own objects, as before.
"""
from __future__ import annotations

import gc
import os
import sys


def one_shot(argv: list[str]) -> bool:
    """A query given on the command line (not ingest/info/check, not the REPL)."""
    if not argv or argv[0] in ("ingest", "info", "check"):
        return False
    return any(a.startswith(("-c", "-f")) for a in argv[1:])


def main() -> None:
    argv = sys.argv[1:]
    quick = one_shot(argv)
    if quick:
        gc.disable()                    # until cli.started(): see the module's docstring
    from .cli import main as cli_main
    rc = cli_main(argv)
    if not quick:
        raise SystemExit(rc)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):       # a closed pipe (| head): nothing more to say
            pass
    os._exit(rc if isinstance(rc, int) else 1)
