"""Read stage: decide what a source is from its content, never its file name."""
from __future__ import annotations

import re

from .base import Input, RawBatch, SourceError

# W3C extended data line of a header-less ProxySG log (date time time-taken c-ip …),
# possibly behind a syslog header
_ELFF = re.compile(r"^(?:<\d{1,3}>[^\n]*?)?\d{4}-\d\d-\d\d[ \t]+\d\d:\d\d:\d\d[ \t]+\d+[ \t]+\S+[ \t]+\S+")
_W3C_DIRECTIVES = ("#Software:", "#Version:", "#Fields:", "#Date:", "#Start-Date:", "#Remark:")
_SQUID = re.compile(rb"^\s*\d{9,10}\.\d{1,3}\s+-?\d+\s+\S+\s+[A-Z_]+/\d{3}\s+\d+\s+\S+\s+\S+")


def sniff(inp: Input) -> str:
    """'evtx' | 'json' | 'zeek' | 'w3c' | 'squid' | 'csv' — or raise SourceError with a hint."""
    head = inp.head(1 << 16)
    if not head.strip(b"\r\n\t \x00\xef\xbb\xbf\xff\xfe"):
        raise SourceError(f"{inp.name}: empty file ({inp.size} bytes): nothing to ingest")
    if head.startswith(b"ElfFile\x00"):
        return "evtx"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = head.decode("utf-16", errors="replace").lstrip("\ufeff")
    else:
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = text.lstrip()[:1]
    if first in ("{", "["):
        return "json"
    body = text.lstrip()
    if body.startswith("#separator") or (body.startswith("#") and "\n#fields\t" in body):
        return "zeek"
    if body.startswith(_W3C_DIRECTIVES) or _ELFF.match(body):
        return "w3c"
    if _SQUID.match(text.encode("utf-8", errors="replace")):
        return "squid"
    line = text.split("\n", 1)[0]
    if any(d in line for d in (",", "\t", ";", "|")):
        return "csv"
    raise SourceError(f"{inp.name}: unknown format (not EVTX, JSON, CSV or a known log); "
                      "describe its columns in a mapping file and pass --mapping FILE")


def read(inp: Input, encoding: str | None = None) -> RawBatch:
    """Read a source with the reader its content calls for (modules load on demand)."""
    import importlib
    module = {"evtx": "evtxread", "json": "jsonread", "zeek": "zeek", "w3c": "w3c",
              "squid": "squid"}.get(sniff(inp), "csvread")
    return importlib.import_module(f".{module}", __name__).read(inp, encoding)


__all__ = ["Input", "RawBatch", "SourceError", "read", "sniff"]
