"""W3C extended log files (Blue Coat / Symantec ProxySG ELFF, IIS) → raw columns.

Directives start with ``#`` (``#Software:``, ``#Version:``, ``#Date:``,
``#Fields:``, ``#Remark:``…). ``#Fields:`` may re-appear mid-file when the
configuration changes: every data line uses the most recent one. Values are
separated by runs of spaces (or tabs); a value containing spaces is
double-quoted (``"Mozilla/5.0 (…)"``, inner quotes doubled) — the quotes are
syntax and are removed, ``-`` (no value) is kept as written. A quote left open
swallows the rest of its line (only that line): the field count then usually no
longer matches and the line is quarantined. Raw columns carry
the ``#Fields:`` names (``cs(User-Agent)``, ``sc-status``); a file whose blocks
name different fields gets the union of their columns.

ProxySG access logs forwarded over syslog lose their header. Data lines that
come before any ``#Fields:`` are read with the ProxySG layout their field count
matches (see ``HEADERLESS``; recorded in the source's notes), else quarantined.
A syslog header in front of a data line (``<134>May  2 02:16:40 proxy ...``) is
split off into the raw column ``syslog_prefix`` when the layout starts with
``date``. ``record`` is the line number; directive lines are not records.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import Input, Quarantined, RawBatch
from .csvread import unique_names
from .zeek import log_lines

#: ProxySG ``bcreportermain_v1`` (the default "main" access-log format).
BCREPORTERMAIN_V1 = (
    "date time time-taken c-ip cs-username cs-auth-group x-exception-id sc-filter-result "
    "cs-categories cs(Referer) sc-status s-action cs-method rs(Content-Type) cs-uri-scheme "
    "cs-host cs-uri-port cs-uri-path cs-uri-query cs-uri-extension cs(User-Agent) s-ip "
    "sc-bytes cs-bytes x-virus-id x-bluecoat-application-name "
    "x-bluecoat-application-operation").split()

#: The layout Microsoft Sentinel's ProxySG parser reads from Syslog (bcreportermain_v1
#: followed by three more fields; the parser calls them src_port, country and
#: cs_threat_risk — the port is the proxy's listening port (80, 3128), the country
#: the upstream server's — so they are named here after ProxySG's own fields).
SENTINEL_PROXYSG = BCREPORTERMAIN_V1 + ["s-port", "s-supplier-country", "cs-threat-risk"]

HEADERLESS = {len(SENTINEL_PROXYSG): ("ProxySG layout of Microsoft Sentinel's SymantecProxySG parser",
                                      SENTINEL_PROXYSG),
              len(BCREPORTERMAIN_V1): ("ProxySG bcreportermain_v1 layout", BCREPORTERMAIN_V1)}

_SYSLOG = r"^(?P<syslog_prefix>.*?)[ \t]*(?P<rest>\d{4}-\d\d-\d\d[ \t]+\d\d:\d\d:\d\d(?:[ \t].*)?)$"


def read(inp: Input, encoding: str | None = None) -> RawBatch:
    dec, lines, is_dir, is_data = log_lines(inp, encoding)
    n_lines = len(lines)
    record_no = np.arange(1, n_lines + 1, dtype=np.int64)

    # blocks: (first line index, end index, field names or None for header-less)
    starts: list[tuple[int, list[str] | None]] = [(0, None)]
    software: list[str] = []
    for i in np.flatnonzero(is_dir):
        line = lines[int(i)].as_py()
        key, _, value = line[1:].partition(":")
        key = key.strip().lower()
        if key == "fields":
            starts.append((int(i) + 1, value.split()))
        elif key == "software" and value.strip() not in software:
            software.append(value.strip())

    tables: list[pa.Table] = []
    recs: list[np.ndarray] = []
    quarantine: list[Quarantined] = []
    notes: list[str] = ["record = line number (directive lines are not records)"]
    if software:
        notes.append("software: " + ", ".join(software))
    for k, (start, fields) in enumerate(starts):
        end = starts[k + 1][0] - 1 if k + 1 < len(starts) else n_lines
        idx = np.flatnonzero(is_data[start:end]) + start
        if fields is not None and not fields:
            for i in idx:
                quarantine.append(Quarantined(int(record_no[i]), "#Fields: directive names no fields",
                                              lines[int(i)].as_py()))
            continue
        if fields is None and not len(idx):
            continue
        blk = lines.slice(int(idx[0]), len(idx)) if len(idx) and idx[-1] - idx[0] + 1 == len(idx) \
            else lines.take(pa.array(idx, pa.int64()))
        date_first = fields is None or (fields and fields[0] == "date")
        blk, prefix = _split_syslog(blk) if date_first else (blk, None)
        toks = tokenize(blk)
        counts = pc.list_value_length(toks).to_numpy(zero_copy_only=False) if len(blk) \
            else np.zeros(0, dtype=np.int64)
        if fields is not None:
            ok = counts == len(fields)
            tables.append(_columns(toks, ok, unique_names(fields), prefix))
            recs.append(record_no[idx[ok]])
            for j in np.flatnonzero(~ok):
                quarantine.append(Quarantined(
                    int(record_no[idx[j]]),
                    f"expected {len(fields)} fields (the #Fields: in force), found {int(counts[j])}",
                    lines[int(idx[j])].as_py()))
            continue
        # header-less data lines: the known ProxySG layouts, by field count
        left = np.ones(len(idx), dtype=bool)
        for n, (what, layout) in sorted(HEADERLESS.items(), reverse=True):
            ok = counts == n
            if ok.any():
                tables.append(_columns(toks, ok, layout, prefix))
                recs.append(record_no[idx[ok]])
                left &= ~ok
                notes.append(f"{int(ok.sum())} line(s) without a #Fields: directive read with the "
                             f"{what} ({n} fields)")
        for j in np.flatnonzero(left):
            quarantine.append(Quarantined(
                int(record_no[idx[j]]),
                f"no #Fields: directive before this line and its {int(counts[j])} fields match "
                f"no known ProxySG layout ({' or '.join(str(n) for n in sorted(HEADERLESS))} fields)",
                lines[int(idx[j])].as_py()))

    if not tables:  # nothing fitted: keep the layout's columns so the profile still applies
        tables.append(pa.table({f: pa.array([], pa.string()) for f in SENTINEL_PROXYSG}))
    order = np.argsort(np.concatenate(recs), kind="stable") if recs else None
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else \
        (tables[0] if tables else pa.table({}))
    records = np.concatenate(recs) if recs else np.array([], dtype=np.int64)
    if order is not None and len(order) and not np.all(order[:-1] < order[1:]):
        table, records = table.take(pa.array(order)), records[order]
    quarantine.sort(key=lambda q: q.record)
    notes.extend(_address_notes(table))
    return RawBatch(table, pa.array(records, pa.int64()), int(is_data.sum()), dec.encoding, "w3c",
                    quarantine, notes)


def _split_syslog(blk: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """A syslog header in front of the date (``<134>Mar  1 10:00:01 proxy-01 2024-…``) →
    (lines without it, the headers or None when no line has one)."""
    if not len(blk):
        return blk, None
    plain = pc.fill_null(pc.match_substring_regex(blk, r"^[ \t]*\d{4}-\d\d-\d\d"), True)
    if pc.all(plain).as_py():
        return blk, None
    m = pc.extract_regex(blk, _SYSLOG)
    has = pc.and_(pc.invert(plain), pc.is_valid(m))
    has = pc.fill_null(pc.and_(has, pc.not_equal(pc.struct_field(m, "syslog_prefix"), "")), False)
    if not pc.any(has).as_py():
        return blk, None
    rest = pc.if_else(has, pc.struct_field(m, "rest"), blk)
    return rest, pc.if_else(has, pc.struct_field(m, "syslog_prefix"), pa.scalar(None, pa.string()))


def tokenize(lines: pa.Array) -> pa.ListArray:
    """Each line → its space/tab-separated values (runs of blanks are one separator;
    blanks inside double quotes are not separators; quotes are kept), vectorized over
    the bytes: quote parity by xor-accumulation, one separator byte per run."""
    if not len(lines):
        return pa.array([], pa.list_(pa.string()))
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()),
                                                     pc.fill_null(lines, "")), "\n")[0].as_buffer()
    buf = np.frombuffer(joined, dtype=np.uint8)
    if (buf == 0x1F).any() or len(buf) >= 2**31 - 1:
        return _tokenize_regex(lines)
    nl = buf == 10
    # quote parity, restarted on every line (a stray quote spoils only its own line)
    parity = np.bitwise_xor.accumulate((buf == 34).view(np.uint8))
    starts = np.concatenate([[0], np.flatnonzero(nl) + 1])
    at_start = np.concatenate([[0], parity])[starts]              # parity before each line
    lengths = np.diff(np.concatenate([starts, [len(buf)]]))
    inside = (parity ^ np.repeat(at_start, lengths)).astype(bool)
    sep = ((buf == 32) | (buf == 9)) & ~inside
    prev_sep = np.concatenate([[False], sep[:-1]])
    next_sep = np.concatenate([sep[1:], [False]])
    run_starts = np.flatnonzero(sep & ~prev_sep)
    run_ends = np.flatnonzero(sep & ~next_sep)
    # a run between two values is one separator; leading and trailing runs go
    before = np.where(run_starts > 0, run_starts - 1, 0)
    after = np.minimum(run_ends + 1, len(buf) - 1)
    between = (run_starts > 0) & ~nl[before] & (run_ends + 1 < len(buf)) & ~nl[after]
    keep = ~sep
    keep[run_starts[between]] = True
    out = buf.copy()
    out[run_starts[between]] = 0x1F
    out = out[keep]
    new_nl = np.flatnonzero(out == 10)
    offsets = np.concatenate([[0], new_nl + 1, [len(out) + 1]]).astype(np.int32)
    # the last line has no newline: give it a virtual one so that every value drops its last byte
    data = np.concatenate([out, np.array([10], dtype=np.uint8)])
    with_nl = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.tobytes()),
                                          pa.py_buffer(data.tobytes()))
    return pc.split_pattern(pc.utf8_rtrim(with_nl, characters="\n"), "\x1f")


def _tokenize_regex(lines: pa.Array) -> pa.ListArray:
    """Slow path (the text holds a 0x1F byte, or is over 2 GB): the same rules in Python."""
    out = []
    for line in lines.to_pylist():
        toks, cur, inq, has = [], [], False, False
        for ch in line or "":
            if ch == '"':
                inq = not inq
            elif ch in " \t" and not inq:
                if has:
                    toks.append("".join(cur))
                    cur, has = [], False
                continue
            cur.append(ch)
            has = True
        if has:
            toks.append("".join(cur))
        out.append(toks)
    return pa.array(out, pa.list_(pa.string()))


def _columns(toks: pa.ListArray, ok: np.ndarray, fields: list[str], prefix: pa.Array | None) -> pa.Table:
    """Columns named ``fields`` from the tokenized lines where ``ok``; W3C quotes removed."""
    mask = pa.array(ok)
    good = toks.filter(mask) if len(toks) else toks
    cols = {}
    for i, name in enumerate(fields):
        if not len(good):
            cols[name] = pa.array([], pa.string())
            continue
        v = pc.list_element(good, i)
        quoted = pc.fill_null(pc.match_substring_regex(v, r'^".*"$'), False)
        if pc.any(quoted).as_py():
            inner = pc.replace_substring(pc.utf8_slice_codeunits(v, 1, -1), '""', '"')
            v = pc.if_else(quoted, inner, v)
        cols[name] = v
    if prefix is not None:
        cols["syslog_prefix"] = prefix.filter(mask)
    return pa.table(cols)


_IPV4ISH = r"^\d{1,3}(\.\d{1,3}){3}$"
_OCTET = r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"


def _address_notes(table: pa.Table) -> list[str]:
    """Say which address fields hold values that look like IPv4 but are not valid:
    they are kept as text (never dropped, never "corrected")."""
    out = []
    for name in table.column_names:
        if not (name.endswith("-ip") or name in ("c-ip", "s-ip", "r-ip", "cs-ip")):
            continue
        v = table.column(name).combine_chunks()
        looks = pc.fill_null(pc.match_substring_regex(v, _IPV4ISH), False)
        valid = pc.fill_null(pc.match_substring_regex(v, _OCTET), False)
        bad = pc.and_(looks, pc.invert(valid))
        nbad = pc.sum(bad).as_py() or 0
        if nbad:
            ex = v.filter(bad)[0].as_py()
            out.append(f"{nbad} value(s) of {name} are not valid IPv4 addresses (e.g. {ex}): "
                       "kept as text")
    return out
