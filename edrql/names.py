"""Names of columns: which column a name means (``resolve_column``: exact, then any case,
then KQL's names ``count_`` / ``bin_x``), the name a computed column gets (``column_name``),
and the nearest valid names for a mistyped one (``did_you_mean``).

Below every module that resolves or suggests names (expr, plan, hostnames …), so none of
them has to import the expression evaluator for it.
"""
from __future__ import annotations

from . import ast as A


def did_you_mean(name: str, candidates) -> str:
    import difflib                       # (a mistake: difflib loads for it)
    cands = list(candidates)
    lower = {c.lower(): c for c in cands}
    close = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)
    close = [lower[c] for c in close]
    if not close:
        tail = name.split(".")[-1].lower()
        close = [c for c in cands if c.lower().endswith("." + tail) or c.lower() == tail][:3]
    return ("did you mean " + ", ".join(close) + "?") if close else ""


def resolve_column(name: str, columns: list[str]) -> str | None:
    if name in columns:
        return name
    hits = [c for c in columns if c.lower() == name.lower()]
    if not hits:                     # ---- KQL's names: count() is count_, by bin(x, …) is x
        alias = "count" if name == "count_" else "bin_" + name
        hits = [c for c in columns if c.lower() == alias.lower()]
    return hits[0] if len(hits) == 1 else None


def column_name(e, index: int) -> str:
    """The name a bare expression gets as a column (``name``, ``bin_ts``, ``col3``)."""
    if isinstance(e, A.Field):
        return e.name
    if isinstance(e, A.Call):
        inner = next((a.name for a in e.args if isinstance(a, A.Field)), None)
        return f"{e.name}_{inner}" if inner else e.name
    if isinstance(e, A.Member):                # ---- dynamic values: AdditionalFields_Foo
        from .fnlib.dynamic import member_name   # here: names stays light (no pyarrow)
        keys = []
        while isinstance(e, A.Member):
            k = e.key
            keys.append(k.value if isinstance(k, A.Lit) else f"-{k.operand.value}"
                        if isinstance(k, A.Unary) and isinstance(k.operand, A.Lit) else "")
            e = e.base
        return member_name(column_name(e, index), keys[::-1])
    return f"col{index + 1}"
