"""The nearest valid names for a mistyped one ("did you mean …?").

Below every module that suggests names (expr, hostnames, plan …), so none of them has
to import the expression evaluator for it.
"""
from __future__ import annotations

import difflib


def did_you_mean(name: str, candidates) -> str:
    cands = list(candidates)
    lower = {c.lower(): c for c in cands}
    close = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)
    close = [lower[c] for c in close]
    if not close:
        tail = name.split(".")[-1].lower()
        close = [c for c in cands if c.lower().endswith("." + tail) or c.lower() == tail][:3]
    return ("did you mean " + ", ".join(close) + "?") if close else ""
