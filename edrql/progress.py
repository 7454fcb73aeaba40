"""A progress bar for long ingests on a terminal; silent otherwise.

The bar advances per source and per phase of a source (read, normalize, dedup,
write), so a single multi-GB export shows where it is.
"""
from __future__ import annotations

import sys

from .safetext import term

PHASES = ("read", "normalize", "dedup", "write")


class Progress:
    """``wrap(inputs)`` iterates the sources; ``phase(name)`` marks a phase done."""

    def __init__(self, title: str):
        self.title = title
        self._bar = None
        self._counter = None

    def __call__(self, items):
        from prompt_toolkit.output import create_output
        from prompt_toolkit.shortcuts import ProgressBar
        items = list(items)
        with ProgressBar(title=self.title, output=create_output(stdout=sys.stderr)) as pb:
            self._bar = pb
            self._counter = pb(range(len(items) * len(PHASES)), label="ingest",
                               total=len(items) * len(PHASES))
            self._iter = iter(self._counter)
            for it in items:
                self._label(f"{it.name}: read")
                yield it
            self._bar = None

    def _label(self, text: str) -> None:
        if self._counter is not None:
            self._counter.label = term(text)[-60:]     # names come from the data: escaped

    def phase(self, name: str, source: str = "") -> None:
        if self._bar is None:
            return
        try:
            next(self._iter)
        except StopIteration:
            pass
        self._label(f"{source}: {name}" if source else name)


def for_terminal(title: str):
    """A Progress on a terminal, or None."""
    return Progress(title) if sys.stderr.isatty() else None
