"""Readable summaries of a case: the manifest as tables (or JSON).

Tables are for a terminal: every text from the data (file names, zip members, host
names, event types, reasons) goes through :func:`safetext.term`; JSON is exact."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tabulate import tabulate

from .safetext import hidden_note, is_flagged, term, term_lines

if TYPE_CHECKING:
    from .ingest import Report


def _short_ts(v: str | None) -> str:
    return v or "-"


def sources_table(sources: list[dict]) -> str:
    rows = []
    for s in sources:
        ok = s["records_read"] == s["rows_stored"] + s["quarantined"] + s["duplicates"]
        rows.append([term(s["path"]), term(f"{s['reader']}/{s['profile']}"), term(s["encoding"]),
                     s["records_read"],
                     s["rows_stored"], s["quarantined"], s["duplicates"], "yes" if ok else "NO"])
    return tabulate(rows, headers=["source", "reader/profile", "encoding", "records", "stored",
                                   "quarantined", "duplicates", "reconciled"],
                    intfmt=",", tablefmt="simple")


def render_ingest(report: Report) -> str:
    out = []
    if report.sources:
        out.append(sources_table(report.sources))
        import re
        tz = sorted({re.sub(r" on \d+ rows", "", s["tz_decision"])
                     for s in report.sources if s.get("tz_decision")})
        if tz:
            out.append("time zones (per source: edrql info CASE):")
            out.extend(f"  {term(t)}" for t in tz[:8])
            if len(tz) > 8:
                out.append(f"  … {len(tz) - 8} more")
    for s in report.skipped:
        out.append(f"skipped {term(s['path'])}: identical content already ingested as "
                   f"{term(s['same_as'])}")
    for r in report.rejected:
        out.append(f"rejected {term_lines(r['reason'])}")
    out.append(f"ingested {len(report.sources)} source(s) in {report.seconds:.2f} s")
    return "\n".join(out)


def render_case(manifest: dict, root: str, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(manifest, indent=1, ensure_ascii=False)
    t = manifest.get("totals", {})
    lines = [f"case {term(root)}",
             f"  {t.get('rows', 0):,} events from {t.get('sources', 0)} source(s), "
             f"{t.get('hosts', 0)} host(s); {t.get('quarantined', 0):,} quarantined, "
             f"{t.get('duplicates', 0):,} duplicates dropped as already stored",
             f"  time range {_short_ts(t.get('first'))} .. {_short_ts(t.get('last'))}", ""]
    lines.append(sources_table(manifest["sources"]))
    lines.append("")
    rows = []
    for s in manifest["sources"]:
        lo, hi = s.get("time_range") or [None, None]
        rows.append([term(s["path"]), term(_short_ts(lo)), term(_short_ts(hi)),
                     term(s.get("tz_decision") or "-")])
    lines.append(tabulate(rows, headers=["source", "first", "last", "time zone decision"]))
    lines.append("")
    hrows = []
    for host, h in manifest.get("hosts", {}).items():
        census = ", ".join(f"{term(k)} {v:,}" for k, v in h["events"].items())
        hrows.append([term(host), term(h["first"]), term(h["last"]), h["rows"], census])
    lines.append(tabulate(hrows, headers=["host", "first", "last", "events", "event types"],
                          intfmt=","))
    if manifest.get("rejected"):
        lines.append("")
        lines.append("rejected sources (nothing from them is in the case):")
        for r in manifest["rejected"]:
            lines.append(f"  {term_lines(r['reason'])}")
    marked = [x for x in _data_texts(manifest) if is_flagged(x)]
    if marked:
        lines.append("")
        lines.append(hidden_note(len(marked), [term(x) for x in marked], "name(s) above")
                     .replace("csv/json output", "edrql info --format json"))
    return "\n".join(lines)


def _data_texts(manifest: dict) -> list[str]:
    """The texts from outside edrql that the case summary shows (file names, hosts, types)."""
    out = [s.get("path") or "" for s in manifest.get("sources", [])]
    out += [r.get("reason") or "" for r in manifest.get("rejected", [])]
    for host, h in manifest.get("hosts", {}).items():
        out.append(host)
        out.extend(h.get("events", {}))
    return out
