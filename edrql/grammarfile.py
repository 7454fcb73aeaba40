"""The grammar's text (edrql/grammar/edrql.lark), read without Lark: the parser
(edrql.parse) builds from it and the parse cache (edrql.parsecache) keys on it."""
from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache(maxsize=1)
def grammar_text() -> str:
    """The grammar (edrql.grammar/edrql.lark), read once: as a plain file beside the
    package's __init__ (importlib.resources, which imports zipfile, costs ~3 ms of every
    start: only where the package is not plain files), else from the source tree."""
    import importlib.util
    import os
    try:
        spec = importlib.util.find_spec("edrql.grammar")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.origin:
        try:
            with open(os.path.join(os.path.dirname(spec.origin), "edrql.lark"),
                      encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            pass
    try:
        from importlib.resources import files
        return (files("edrql.grammar") / "edrql.lark").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parent.parent / "grammar" / "edrql.lark").read_text(
            encoding="utf-8")
