"""W3C extended log files (Blue Coat / Symantec ProxySG ELFF, IIS) → raw columns.

Directives start with ``#`` (``#Software:``, ``#Version:``, ``#Date:``,
``#Fields:``, ``#Remark:``…). ``#Fields:`` may re-appear mid-file when the
configuration changes: every data line uses the most recent one. Values are
separated by runs of spaces (or tabs); a value containing spaces is
double-quoted (``"Mozilla/5.0 (…)"``, inner quotes doubled) — the quotes are
syntax and are removed, ``-`` (no value) is kept as written. Raw columns carry
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
from .text import decode

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

_TOKEN = r'"(?:[^"]|"")*"|[^\s"]\S*'
_SEP = r"[ \t]+"
_SYSLOG = r"^(?P<syslog_prefix>.*?)[ \t]*(?P<rest>\d{4}-\d\d-\d\d[ \t]+\d\d:\d\d:\d\d(?:[ \t].*)?)$"


def _pattern(n: int) -> str:
    groups = _SEP.join(f"(?P<f{i}>{_TOKEN})" for i in range(n))
    return rf"^[ \t]*{groups}[ \t]*$"


def count_tokens(line: str) -> int:
    import re
    return len(re.findall(_TOKEN, line))


def read(inp: Input, encoding: str | None = None) -> RawBatch:
    dec = decode(inp.read_bytes(), encoding)
    lines = pc.split_pattern(pa.array([dec.text]), "\n")[0].values
    lines = pc.utf8_rtrim(lines, characters="\r")
    n_lines = len(lines)
    is_dir = pc.fill_null(pc.starts_with(lines, "#"), False).to_numpy(zero_copy_only=False)
    blank = pc.fill_null(pc.match_substring_regex(lines, r"^\s*$"), False).to_numpy(zero_copy_only=False)
    is_data = ~is_dir & ~blank
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
        blk = lines.take(pa.array(idx, pa.int64()))
        if fields is not None:
            t, ok = _parse(blk, _unique(fields))
            tables.append(t)
            recs.append(record_no[idx[ok]])
            for j in np.flatnonzero(~ok):
                line = blk[int(j)].as_py()
                quarantine.append(Quarantined(
                    int(record_no[idx[j]]),
                    f"expected {len(fields)} fields (the #Fields: in force), found {count_tokens(line)}",
                    line))
            continue
        # header-less data lines: try the known ProxySG layouts, most fields first
        left = np.ones(len(idx), dtype=bool)
        for n, (what, layout) in sorted(HEADERLESS.items(), reverse=True):
            sub = np.flatnonzero(left)
            if not len(sub):
                break
            t, ok = _parse(blk.take(pa.array(sub, pa.int64())), layout)
            if ok.any():
                tables.append(t)
                recs.append(record_no[idx[sub[ok]]])
                left[sub[ok]] = False
                notes.append(f"{int(ok.sum())} line(s) without a #Fields: directive read with the "
                             f"{what} ({n} fields)")
        for j in np.flatnonzero(left):
            line = blk[int(j)].as_py()
            quarantine.append(Quarantined(
                int(record_no[idx[j]]),
                f"no #Fields: directive before this line and its {count_tokens(line)} fields match "
                f"no known ProxySG layout ({' or '.join(str(n) for n in sorted(HEADERLESS))} fields)",
                line))

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


def _parse(blk: pa.Array, fields: list[str]) -> tuple[pa.Table, np.ndarray]:
    """Split lines into ``fields``; (table of the lines that fit, mask of those lines)."""
    n = len(fields)
    prefix = None
    src = blk
    if fields[0] == "date" and len(blk):
        m = pc.extract_regex(blk, _SYSLOG)
        has = pc.fill_null(pc.not_equal(pc.struct_field(m, "syslog_prefix"), ""), False)
        if pc.any(has).as_py():
            src = pc.if_else(has, pc.struct_field(m, "rest"), blk)
            prefix = pc.if_else(has, pc.struct_field(m, "syslog_prefix"), pa.scalar(None, pa.string()))
    if len(src):
        parsed = pc.extract_regex(src, _pattern(n))
        ok = pc.is_valid(parsed).to_numpy(zero_copy_only=False)
    else:
        parsed, ok = None, np.zeros(0, dtype=bool)
    cols = {}
    good = parsed.filter(pa.array(ok)) if parsed is not None else None
    for i, name in enumerate(fields):
        if good is None or not len(good):
            cols[name] = pa.array([], pa.string())
            continue
        v = pc.struct_field(good, f"f{i}")
        quoted = pc.fill_null(pc.match_substring_regex(v, r'^"(?:[^"]|"")*"$'), False)
        if pc.any(quoted).as_py():
            inner = pc.replace_substring(pc.utf8_slice_codeunits(v, 1, -1), '""', '"')
            v = pc.if_else(quoted, inner, v)
        cols[name] = v
    if prefix is not None:
        cols["syslog_prefix"] = prefix.filter(pa.array(ok))
    return pa.table(cols), ok


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


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 1
        out.append(n)
    return out
