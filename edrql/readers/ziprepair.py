"""A zip whose end is missing (a cut download or copy): its complete members, recovered.

A zip's member list (the central directory) is at its end, so a truncated
archive cannot be listed. Each member is also preceded by a local header, so
the members can be walked from the start: a member with its sizes in the local
header is complete when its data is all there; a member written with a data
descriptor (sizes after the data, flag bit 3) is found by inflating its deflate
stream to its end (bounded memory; stored or encrypted ones cannot be delimited
this way). A central directory for the complete members is then built in memory
and served after the archive's bytes (:class:`spliced.Spliced`), so the archive is read
with the ordinary zip reader and nothing is copied. The member the end cuts
through, and whatever follows an entry that cannot be delimited, are reported.
"""
from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass


LOCAL = b"PK\x03\x04"
DESCRIPTOR = b"PK\x07\x08"
BLOCK = 1 << 20


@dataclass
class Entry:
    offset: int
    flags: int
    method: int
    time: int
    date: int
    crc: int
    csize: int
    usize: int
    name: bytes
    extra: bytes


@dataclass
class Recovered:
    directory: bytes          # central directory + end record for the complete members
    end: int                  # bytes of the archive they span
    members: int
    lost: list[str]           # why members (or the rest) could not be recovered


def recover(path: str, max_member: int) -> Recovered:
    size = os.path.getsize(path)
    entries: list[Entry] = []
    lost: list[str] = []
    end = 0
    with open(path, "rb") as fh:
        off = 0
        while off + 30 <= size:
            fh.seek(off)
            h = fh.read(30)
            if h[:4] != LOCAL:
                break
            _, _, flags, method, mtime, mdate, crc, csize, usize, nlen, xlen = \
                struct.unpack("<IHHHHHIIIHH", h)
            name, extra = fh.read(nlen), fh.read(xlen)
            shown = name.decode("utf-8", errors="replace")
            start = off + 30 + nlen + xlen
            if len(name) < nlen or len(extra) < xlen:
                lost.append(f"{shown}: the archive ends inside its header")
                break
            if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
                usize, csize = _zip64_sizes(extra, usize, csize)
            if flags & 8:
                if method != 8 or flags & 1:
                    lost.append(f"{shown}: written with a data descriptor "
                                f"({'encrypted' if flags & 1 else 'not deflated'}): its end, and "
                                "so every member after it, cannot be found without the member list")
                    break
                found = _inflate_to_end(fh, start, size, max_member)
                if isinstance(found, str):
                    lost.append(f"{shown}: {found}")
                    break
                csize, usize, crc = found
                nxt = start + csize
                fh.seek(nxt)
                nxt += 16 if fh.read(4) == DESCRIPTOR else 12
            else:
                nxt = start + csize
            if nxt > size:
                lost.append(f"{shown}: cut by the end of the archive "
                            f"({max(size - start, 0):,} of {csize:,} compressed bytes present)")
                break
            entries.append(Entry(off, flags, method, mtime, mdate, crc, csize, usize, name, extra))
            end = off = nxt
        if end < size and not lost:
            fh.seek(end)
            if fh.read(4) not in (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06"):
                lost.append(f"{size - end:,} bytes after the last complete member are not a member")
            # else: the walk reached the (cut) member list: every member is recovered
    return Recovered(_directory(entries, end), end, len(entries), lost)


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, n = struct.unpack("<HH", extra[i:i + 4])
        if tag == 1:
            vals = extra[i + 4:i + 4 + n]
            if usize == 0xFFFFFFFF and len(vals) >= 8:
                usize, vals = struct.unpack("<Q", vals[:8])[0], vals[8:]
            if csize == 0xFFFFFFFF and len(vals) >= 8:
                csize = struct.unpack("<Q", vals[:8])[0]
            break
        i += 4 + n
    return usize, csize


def _inflate_to_end(fh, start: int, size: int, max_member: int):
    """(compressed size, size, crc) of a deflate stream, or why it has no end."""
    d = zlib.decompressobj(-15)
    pos, usize, crc = start, 0, 0
    while not d.eof:
        if pos >= size:
            return f"cut by the end of the archive ({usize:,} bytes inflated)"
        fh.seek(pos)
        chunk = fh.read(min(BLOCK, size - pos))
        pos += len(chunk)
        try:
            while chunk and not d.eof:
                out = d.decompress(chunk, BLOCK)
                usize += len(out)
                crc = zlib.crc32(out, crc)
                chunk = d.unconsumed_tail
                if usize > max_member:
                    return f"inflates past the {max_member >> 20} MiB member limit"
        except zlib.error as e:
            return f"corrupt deflate data ({e})"
    return pos - start - len(d.unused_data), usize, crc


def _without_zip64(extra: bytes) -> bytes:
    out, i = bytearray(), 0
    while i + 4 <= len(extra):
        tag, n = struct.unpack("<HH", extra[i:i + 4])
        if tag != 1:
            out += extra[i:i + 4 + n]
        i += 4 + n
    return bytes(out)


def _directory(entries: list[Entry], end: int) -> bytes:
    central = bytearray()
    for e in entries:
        big = e.csize >= 0xFFFFFFFF or e.usize >= 0xFFFFFFFF or e.offset >= 0xFFFFFFFF
        extra = (struct.pack("<HHQQQ", 1, 24, e.usize, e.csize, e.offset) if big else b"") + \
            _without_zip64(e.extra)     # keeps e.g. the AES field (0x9901) the reader needs
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 45 if big else 20, 45 if big else 20,
            e.flags, e.method, e.time, e.date, e.crc,
            0xFFFFFFFF if big else e.csize, 0xFFFFFFFF if big else e.usize,
            len(e.name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF if big else e.offset) + e.name + extra
    n = len(entries)
    tail = b""
    if n >= 0xFFFF or end >= 0xFFFFFFFF or len(central) >= 0xFFFFFFFF:
        z64 = end + len(central)
        tail = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), end)
        tail += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
        n16, size32, off32 = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF
    else:
        n16, size32, off32 = n, len(central), end
    return bytes(central) + tail + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n16, n16, size32,
                                               off32, 0)
