"""Squid native access.log → raw columns, vectorized (one regex over all lines).

``time elapsed remotehost code/status bytes method URL rfc931 peerstatus/peerhost type``
Lines that do not match the format are quarantined with their text.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .base import Input, Quarantined, RawBatch
from .text import decode

FIELDS = ["time", "elapsed", "remotehost", "code", "status", "bytes", "method", "url",
          "rfc931", "peerstatus", "peerhost", "type"]
PATTERN = (r"^\s*(?P<time>\d+(?:\.\d+)?)\s+(?P<elapsed>-?\d+)\s+(?P<remotehost>\S+)\s+"
           r"(?P<code>[^/\s]+)/(?P<status>\d{3})\s+(?P<bytes>\d+)\s+(?P<method>\S+)\s+"
           r"(?P<url>\S+)\s+(?P<rfc931>\S+)\s+(?P<peerstatus>[^/\s]+)/(?P<peerhost>\S+)"
           r"(?:\s+(?P<type>\S+))?\s*$")


def read(inp: Input, encoding: str | None = None) -> RawBatch:
    dec = decode(inp.read_bytes(), encoding)
    lines = pc.split_pattern(pa.array([dec.text]), "\n")[0].values
    lines = pc.utf8_rtrim(lines, characters="\r")
    nonblank = pc.invert(pc.match_substring_regex(lines, r"^\s*$"))
    record_no = pa.array(range(1, len(lines) + 1), pa.int64())  # line numbers
    lines, record_no = lines.filter(nonblank), record_no.filter(nonblank)
    parsed = pc.extract_regex(lines, PATTERN)
    ok = pc.is_valid(parsed)
    good = parsed.filter(ok)
    table = pa.table({f: pc.struct_field(good, f) for f in FIELDS}) if len(good) else \
        pa.table({f: pa.array([], pa.string()) for f in FIELDS})
    bad_idx = pc.indices_nonzero(pc.invert(ok)).to_pylist()
    quarantine = [Quarantined(record_no[i].as_py(), "not a Squid native access.log line",
                              lines[i].as_py()) for i in bad_idx]
    return RawBatch(table, record_no.filter(ok), len(lines), dec.encoding, "squid", quarantine,
                    ["record = line number"])
