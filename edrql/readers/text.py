"""Byte-level facts about a source: encoding detection and decoding.

Order of decisions: BOM (UTF-8, UTF-16 LE/BE) → strict UTF-8 → strict cp932
(Japanese Windows; plain shift_jis rejects real cp932 characters) → mixed,
line by line, where bytes that decode as neither are kept as ``\\xNN`` escapes
and counted, so nothing vanishes silently.
"""
from __future__ import annotations

from dataclasses import dataclass

BOMS = [
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]


@dataclass
class Decoded:
    text: str
    encoding: str          # what was decided, recorded in the manifest
    escaped_lines: int = 0  # lines whose undecodable bytes were escaped as \xNN
    cp932_lines: int = 0    # lines decoded as cp932 inside an otherwise UTF-8 file


def bom_encoding(head: bytes) -> str | None:
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    return None


def decode(data: bytes, forced: str | None = None) -> Decoded:
    if forced:
        return Decoded(data.decode(forced, errors="backslashreplace"), forced)
    enc = bom_encoding(data[:4])
    if enc:
        body = data[len(next(b for b, n in BOMS if n == enc)):]
        codec = "utf-8" if enc == "utf-8-sig" else enc
        try:
            return Decoded(body.decode(codec), enc)
        except UnicodeDecodeError:
            return Decoded(body.decode(codec, errors="backslashreplace"), enc + " (invalid sequences escaped)", 1)
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if not _has_utf8_multibyte_lines(data):
        try:
            return Decoded(data.decode("cp932"), "cp932")
        except UnicodeDecodeError:
            pass
    return _decode_mixed(data)


def _has_utf8_multibyte_lines(data: bytes) -> bool:
    """Some non-ASCII line is valid UTF-8: then the file is UTF-8 with a few
    foreign lines, not cp932 (cp932 text rarely forms valid UTF-8 sequences,
    while UTF-8 text often decodes as cp932 half-width katakana)."""
    for line in data.splitlines():
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def _decode_mixed(data: bytes) -> Decoded:
    out, cp, esc = [], 0, 0
    for line in data.splitlines(keepends=True):
        try:
            out.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        try:
            out.append(line.decode("cp932"))
            cp += 1
        except UnicodeDecodeError:
            out.append(line.decode("utf-8", errors="backslashreplace"))
            esc += 1
    parts = ["mixed: utf-8"]
    if cp:
        parts.append(f"{cp} line(s) cp932")
    if esc:
        parts.append(f"{esc} line(s) with undecodable bytes kept as \\xNN escapes")
    return Decoded("".join(out), ", ".join(parts), esc, cp)
