"""A progress bar for long ingests on a terminal; silent otherwise."""
from __future__ import annotations

import sys


def for_terminal(title: str):
    """Return a wrapper ``wrap(iterable)`` showing a bar on a terminal, or None."""
    if not sys.stderr.isatty():
        return None

    def wrap(items):
        from prompt_toolkit.output import create_output
        from prompt_toolkit.shortcuts import ProgressBar
        items = list(items)
        with ProgressBar(title=title, output=create_output(stdout=sys.stderr)) as pb:
            for it in pb(items, label="sources", total=len(items)):
                yield it
    return wrap
