"""Read stage: decide what a source is from its content, never its file name."""
from __future__ import annotations

import re

from .base import Input, RawBatch, SourceError

# W3C extended data line of a header-less ProxySG log (date time time-taken c-ip …),
# possibly behind a syslog header
_ELFF = re.compile(r"^(?:<\d{1,3}>[^\n]*?)?\d{4}-\d\d-\d\d[ \t]+\d\d:\d\d:\d\d[ \t]+\d+[ \t]+\S+[ \t]+\S+")
_W3C_DIRECTIVES = ("#Software:", "#Version:", "#Fields:", "#Date:", "#Start-Date:", "#Remark:")
_SQUID = re.compile(rb"^\s*\d{9,10}\.\d{1,3}\s+-?\d+\s+\S+\s+[A-Z_]+/\d{3}\s+\d+\s+\S+\s+\S+")
#: Binary formats named in the rejection (their magic numbers).
_MAGIC = [(b"PK\x03\x04", "a zip archive whose member list cannot be read (truncated or damaged zip)"),
          (b"PK\x05\x06", "an empty zip archive"),
          (b"\x1f\x8b", "gzip-compressed data: decompress it first (gunzip)"),
          (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract it first"),
          (b"Rar!\x1a\x07", "a RAR archive: extract it first"),
          (b"\xfd7zXZ\x00", "xz-compressed data: decompress it first"),
          (b"ElfChnk\x00", "an EVTX chunk without its file header (carved?)"),
          (b"\xd4\xc3\xb2\xa1", "a pcap capture"), (b"\xa1\xb2\xc3\xd4", "a pcap capture"),
          (b"\x0a\x0d\x0d\x0a", "a pcapng capture"),
          (b"SQLite format 3\x00", "an SQLite database")]
#: Short magics named only when the content is binary anyway.
_WEAK_MAGIC = [(b"MZ", "a Windows executable"), (b"\x7fELF", "an ELF executable"),
               (b"BZh", "bzip2-compressed data: decompress it first")]
#: C0 controls that do not occur in text exports (TAB, LF, VT, FF, CR and ESC do)
_BINARY_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])
BINARY_SHARE = 0.01   # more than 1% such bytes in the first 64 KiB: binary


def binary_kind(head: bytes) -> str | None:
    """Why the start of a file is binary rather than a text log export, or None.

    UTF-16 text (BOM, or NUL on every other byte) is text; otherwise a known
    magic number, or more than :data:`BINARY_SHARE` of C0 control bytes other
    than TAB/LF/VT/FF/CR/ESC, is binary."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or _utf16_shape(head):
        return None
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    body = head.strip(b"\x00")
    if not body:
        return None
    bad = len(body) - len(body.translate(None, _BINARY_BYTES))
    if bad > BINARY_SHARE * len(body):
        for magic, what in _WEAK_MAGIC:
            if head.startswith(magic):
                return what
        return f"{bad:,} control bytes in the first {len(body):,} bytes"
    return None


def _utf16_shape(head: bytes) -> bool:
    """BOM-less UTF-16 of mostly ASCII text: NUL on (nearly) every odd or every even byte."""
    sample = head[:4096]
    if len(sample) < 16:
        return False
    even, odd = sample[0::2], sample[1::2]
    return max(even.count(0) / len(even), odd.count(0) / len(odd)) > 0.9 and min(
        even.count(0) / len(even), odd.count(0) / len(odd)) < 0.1


def sniff(inp: Input) -> str:
    """'evtx' | 'json' | 'zeek' | 'w3c' | 'squid' | 'csv' — or raise SourceError with a hint."""
    head = inp.head(1 << 16)
    if not head.strip(b"\r\n\t \x00\xef\xbb\xbf\xff\xfe"):
        raise SourceError(f"{inp.name}: empty file ({inp.size} bytes): nothing to ingest")
    if head.startswith(b"ElfFile\x00"):
        return "evtx"
    why = binary_kind(head)
    if why:
        raise SourceError(f"{inp.name}: binary content, not a log export ({why})")
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


def read_stream(inp: Input, encoding: str | None = None, block_size: int = 16 << 20):
    """A source as consecutive batches (see :func:`.csvread.stream`: ``None`` means start
    again). CSV streams in blocks of about ``block_size`` bytes; the other formats come
    as one batch."""
    import importlib
    kind = sniff(inp)
    if kind == "csv":
        from .csvread import stream
        return stream(inp, encoding, block_size)
    module = {"evtx": "evtxread", "json": "jsonread", "zeek": "zeek", "w3c": "w3c",
              "squid": "squid"}[kind]
    return iter([importlib.import_module(f".{module}", __name__).read(inp, encoding)])


__all__ = ["Input", "RawBatch", "SourceError", "read", "read_stream", "sniff"]
