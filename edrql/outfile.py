"""The one table of file extensions → output formats (``-o FILE``, ``| save``, ``.once``,
``.output``), in a module of its own: the command line reads it before it knows whether the
query needs pyarrow (edrql/quickcount.py does not). ``.dot``/``.mmd`` name tree drawings,
which only a tree() result can take."""
from __future__ import annotations

import os

FILE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".ndjson": "ndjson",
                ".jsonl": "ndjson", ".txt": "table", ".dot": "dot", ".gv": "dot",
                ".mmd": "mermaid", ".mermaid": "mermaid"}


def format_for_path(path: str) -> str | None:
    """The format a file's extension names, or None (the caller asks, never guesses)."""
    return FILE_FORMATS.get(os.path.splitext(path)[1].lower())
