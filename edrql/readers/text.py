"""Byte-level facts about a source: encoding detection and decoding.

Order of decisions:

1. a BOM (UTF-8, UTF-16 LE/BE);
2. strict UTF-8;
3. when no line holds valid multi-byte UTF-8, one legacy Windows code page for
   the whole file: **cp932** (Japanese; plain shift_jis rejects real cp932
   characters) if the file decodes strictly as cp932 *and reads as Japanese*,
   else **cp1252** (Western European) if it decodes strictly as cp1252.
   "Reads as Japanese" is a vote over the cp932 characters of the first 4 MiB:
   Japanese text is mostly kana, symbols and level-1 kanji, whose lead bytes
   are 0x81–0x9F; cp1252 text misread as cp932 is mostly accented letters —
   lower case (0xE0–0xFF) become rare level-2/extension kanji or private-use
   characters, upper case (0xC0–0xDF) become half-width katakana. cp932 wins
   when the 0x81–0x9F leads are at least as many as the others (``Hélène``
   is cp1252; ``山田太郎``, ``C:\\Users\\林\\データ.txt``, ``髙橋`` are cp932).
   Limit: Western text whose only non-ASCII characters are ``’`` or ``“``
   directly before a letter can pass for cp932: force ``--encoding cp1252``;
4. otherwise mixed, line by line: UTF-8, else cp932 (same rule), else cp1252,
   else the line's undecodable bytes are kept, each byte *b* as the private-use
   code point U+10FF00+*b* (:func:`edrql.safetext.undecodable`; a terminal shows
   it as ``⟨x81⟩``), so nothing vanishes silently and a byte cannot be confused
   with a literal ``\\x81`` in the data. Such lines are counted.

``--encoding`` forces a codec; bytes it cannot decode are kept the same way.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ..safetext import BYTE_BASE

BOMS = [
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]

#: codec error handler: each undecodable byte b → chr(U+10FF00 + b)
KEEP_BYTES = "edrql.undecodable"


def _keep_bytes(exc: UnicodeError):
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(BYTE_BASE + b) for b in exc.object[exc.start:exc.end]), exc.end


codecs.register_error(KEEP_BYTES, _keep_bytes)

# cp932 characters by their first byte: (kana/symbol/level-1 lead) | (other lead) | half-width
_CP932_CHARS = re.compile(rb"([\x81-\x9f])[\x40-\x7e\x80-\xfc]|([\xe0-\xfc])[\x40-\x7e\x80-\xfc]"
                          rb"|([\xa1-\xdf])")
VOTE_BYTES = 4 << 20


@dataclass
class Decoded:
    text: str
    encoding: str          # what was decided, recorded in the manifest
    escaped_lines: int = 0  # lines whose undecodable bytes were kept as U+10FF00+b
    cp932_lines: int = 0    # lines decoded as cp932 inside an otherwise UTF-8 file
    cp1252_lines: int = 0   # lines decoded as cp1252 inside an otherwise UTF-8 file


def bom_encoding(head: bytes) -> str | None:
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    return None


def keep_undecodable(data: bytes, codec: str) -> str:
    """Decode; undecodable bytes become U+10FF00+b."""
    return data.decode(codec, errors=KEEP_BYTES)


def decode(data: bytes, forced: str | None = None) -> Decoded:
    if forced:
        try:
            return Decoded(data.decode(forced), forced)
        except UnicodeDecodeError:
            return Decoded(keep_undecodable(data, forced),
                           forced + " (undecodable bytes kept as U+10FF00+byte)", 1)
    enc = bom_encoding(data[:4])
    if enc:
        body = data[len(next(b for b, n in BOMS if n == enc)):]
        codec = "utf-8" if enc == "utf-8-sig" else enc
        try:
            return Decoded(body.decode(codec), enc)
        except UnicodeDecodeError:
            return Decoded(keep_undecodable(body, codec),
                           enc + " (undecodable bytes kept as U+10FF00+byte)", 1)
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if not _has_utf8_multibyte_lines(data):
        text = _legacy(data)
        if text is not None:
            return Decoded(*text)
    return _decode_mixed(data)


def looks_japanese(data: bytes) -> bool:
    """Bytes that decode as cp932 are Japanese, not cp1252 (see the module docstring)."""
    japanese = other = 0
    for lead, ext, half in _CP932_CHARS.findall(data[:VOTE_BYTES]):
        if lead:
            japanese += 1
        else:
            other += 1
    return japanese > 0 and japanese >= other


def _legacy(data: bytes) -> tuple[str, str] | None:
    """(text, 'cp932' | 'cp1252') when the whole file is one legacy code page."""
    try:
        text = data.decode("cp932")
        if looks_japanese(data):
            return text, "cp932"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return None


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
    out, cp, w, esc = [], 0, 0, 0
    for line in data.splitlines(keepends=True):
        try:
            out.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        legacy = _legacy(line)
        if legacy is not None:
            out.append(legacy[0])
            cp += legacy[1] == "cp932"
            w += legacy[1] == "cp1252"
        else:
            out.append(keep_undecodable(line, "utf-8"))
            esc += 1
    parts = ["mixed: utf-8"]
    if cp:
        parts.append(f"{cp} line(s) cp932")
    if w:
        parts.append(f"{w} line(s) cp1252")
    if esc:
        parts.append(f"{esc} line(s) with undecodable bytes kept as U+10FF00+byte")
    return Decoded("".join(out), ", ".join(parts), esc, cp, w)
