"""The REPL's plan checker, shared by the session (on Enter) and the completer (on
typing), so neither imports the other for it."""
from __future__ import annotations


def planner(ctx):
    """The plan checker for this session: its let tables and let constants are known."""
    from ..plan import Planner, table_columns
    outputs = {n: f.output_columns for n, f in ctx.pipes.items() if hasattr(f, "output_columns")}
    pl = Planner(table_columns(ctx), set(ctx.pipes), outputs)
    pl.scalars.update(ctx.scope.lets)
    return pl
