"""Command line: ``edrql ingest``, ``edrql info`` and queries
(``edrql CASE_OR_EXPORTS... -c QUERY | -f SCRIPT``).

Exit status: 0 success; 1 a data error (a source rejected, a damaged case);
2 a usage error.
"""
from __future__ import annotations

import argparse
import sys

from . import memtune

memtune.tune(large_pages="ingest" in sys.argv[1:2])   # before pyarrow is first imported

from . import __version__  # noqa: E402

# A query imports only what it runs: the ingest machinery (edrql.ingest, the readers, the
# profiles, normalize) loads for `edrql ingest`, for export files given instead of a case
# and for the REPL's .ingest, not for a query over a case folder (tests/test_first_contact.py).

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
edrql — a local, honest query tool over raw EDR log exports.

usage:
  edrql CASE_OR_EXPORTS...              the interactive REPL (on a terminal; .help inside)
  edrql CASE_OR_EXPORTS... -c 'QUERY'   run a query (or -f script.edrql; -f - reads stdin)
  edrql ingest SOURCE... --case DIR     ingest exports (CSV/JSON/EVTX/zip) into a case folder
  edrql info CASE_OR_EXPORTS...         what a case holds: sources, counts, hosts, time ranges
  edrql check CASE [--repair]           verify a case: segments, counts, derived data, orphans
  edrql migrate CASE                    rewrite a case of the old layout (format 1) compactly
  edrql hunt CASE_OR_EXPORTS... --rules PATH...   run Sigma rules: one row per hit, a per-rule
                                        summary and a receipt of every rule (docs/sigma.md)

query examples:
  edrql ./case -c 'events | where name == "powershell.exe" | project ts, host, pid, cmdline'
  edrql sysmon.evtx -c 'DeviceProcessEvents | where ProcessCommandLine has "-enc"'   # KQL, any vendor
  edrql ./case -c 'sequence by proc with maxspan=5m [process where name == "powershell.exe"] [network where true]'   # EQL

SOURCE and CASE_OR_EXPORTS may be export files, folders or .zip archives; export files
given instead of a case are ingested once into a cached case (keyed by content hash).
The language: docs/language.md; KQL as written and where edrql differs: docs/kql.md;
the REPL: docs/repl.md; the store and the Device* tables: docs/schema.md; Python: docs/python.md.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors (which quote the arguments) escaped for a terminal."""

    def error(self, message):
        from .safetext import term_lines
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {term_lines(message)}\n")


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tz", metavar="ZONE",
                   help="time zone for time values that carry none (default UTC), e.g. Asia/Tokyo")
    p.add_argument("--mapping", metavar="FILE",
                   help="TOML mapping file naming the columns of an export edrql does not know")
    p.add_argument("--encoding", metavar="ENC",
                   help="force the text encoding (default: detected: BOM, UTF-8, cp932, cp1252, mixed)")
    p.add_argument("--zip-password", metavar="PASS",
                   help="password of encrypted zip members (ZipCrypto), e.g. infected")


def query_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="edrql", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 success, 1 query or data error, 2 usage error")
    p.add_argument("--version", action="version", version=f"edrql {__version__}")
    p.add_argument("paths", nargs="*", metavar="CASE_OR_EXPORTS",
                   help="a case folder, or export files/folders/zips (ingested once into a cache)")
    p.add_argument("-c", dest="query", metavar="QUERY", help="the query (statements separated by ;)")
    p.add_argument("-f", dest="script", metavar="FILE", help="run a script file; - reads stdin")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="bind $NAME in the query (repeatable)")
    p.add_argument("--format", choices=["table", "csv", "tsv", "json", "ndjson", "mermaid", "dot"],
                   help="output format (default: table on a terminal, csv otherwise); mermaid "
                        "and dot draw the process trees of tree()")
    p.add_argument("-o", dest="output", metavar="FILE", help="write the result to FILE")
    p.add_argument("--no-csv-escape", action="store_true",
                   help="write CSV cells as they are (default: prefix cells starting with = + - @ "
                        "TAB CR with ' so spreadsheets do not run them as formulas)")
    p.add_argument("--receipt", metavar="FILE", help="write search receipts as JSON to FILE")
    p.add_argument("--now", metavar="TIME",
                   help="the reference time of now() and ago(): an ISO 8601 time (zone-less: "
                        "--tz), 'wall' for the real clock, or 'end' (the default: the end of "
                        "the case's data, its latest event)")
    p.add_argument("-v", "--verbose", action="store_true", help="search receipts and timing on stderr")
    _ingest_args(p)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="edrql", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"edrql {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    pi = sub.add_parser("ingest", help="ingest exports into a case folder (creates or appends)")
    pi.add_argument("sources", nargs="+", metavar="SOURCE")
    pi.add_argument("--case", required=True, metavar="DIR", help="case folder (created if absent)")
    _ingest_args(pi)
    pi.add_argument("--hostmap", metavar="FILE",
                    help="CSV of address,host pairs (e.g. from DHCP) that tie proxy client "
                         "addresses to hosts; kept in the case, shown by the hostmap table")
    pi.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    pn = sub.add_parser("info", help="summarize a case (or raw exports, via the cache)")
    pn.add_argument("case", nargs="+", metavar="CASE_OR_EXPORTS")
    pn.add_argument("--format", choices=["table", "json"], default="table")
    _ingest_args(pn)
    pc = sub.add_parser("check", help="verify a case (segments, counts, derived data); "
                                      "--repair fixes what can be fixed without losing a record")
    pc.add_argument("case", metavar="CASE", help="a case folder")
    pc.add_argument("--repair", action="store_true",
                    help="fix what can be fixed without losing a record: rebuild a lost manifest "
                         "from the segments, recompute totals, delete stale or damaged derived "
                         "data and search indexes, adopt or set aside orphan segments "
                         "(exit 0 when the case is then healthy, 1 when problems remain)")
    _migrate_parser(sub)            # ---- migrate
    _hunt_parser(sub)               # ---- hunt
    return p


def _check_options(a) -> None:
    """--tz and --encoding checked before anything is opened (no ingest import)."""
    if a.tz:
        import zoneinfo
        try:
            zoneinfo.ZoneInfo(a.tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"--tz {a.tz}: unknown time zone (try UTC, Europe/Berlin, Asia/Tokyo)")
    if a.encoding:
        import codecs
        try:
            codecs.lookup(a.encoding)
        except LookupError:
            raise UsageError(f"--encoding {a.encoding}: unknown encoding (try utf-8, cp932, utf-16)")


def _options(a):
    """The ingest options (edrql.ingest.Options) of the command line, checked."""
    from .ingest import Options
    _check_options(a)
    return Options(tz=a.tz or "UTC", tz_given=bool(a.tz), mapping=a.mapping, encoding=a.encoding,
                   zip_password=a.zip_password)


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("ingest", "info", "check", "migrate", "hunt"):  # ---- migrate, hunt
        return _guard(lambda: cmd_query(query_parser().parse_args(argv)))
    parser = build_parser()
    a = parser.parse_args(argv)
    return _guard(lambda: {"ingest": cmd_ingest, "info": cmd_info, "check": cmd_check,
                           "migrate": cmd_migrate, "hunt": cmd_hunt}[a.command](a))  # ---- migrate, hunt


def _say(text) -> None:
    """A message on standard error; file names and values in it come from the data."""
    from .safetext import term_lines
    print(f"edrql: {term_lines(text)}", file=sys.stderr)


def _data_errors() -> tuple:
    """The data errors (exit 1, one message) of the modules this run has loaded: a source
    that cannot be read, a damaged case, counts that do not reconcile. An error class whose
    module was never imported cannot have been raised, so none is imported here."""
    from .errors import ParseError, QueryError
    out = [ParseError, QueryError]
    for module, name in (("edrql.store", "CaseError"), ("edrql.readers.errors", "SourceError"),
                         ("edrql.ingest", "AccountingError")):
        if module in sys.modules:
            out.append(getattr(sys.modules[module], name))
    return tuple(out)


def _guard(fn) -> int:
    try:
        return fn()
    except UsageError as e:
        _say(e)
        return EXIT_USAGE
    except _data_errors() as e:
        _say(e)
        return EXIT_DATA
    except KeyboardInterrupt:
        print("edrql: interrupted; the case is as it was before this command", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # a bug, not a user mistake: say so, without a wall of traceback
        import os
        import traceback
        if os.environ.get("EDRQL_DEBUG"):
            traceback.print_exc()
        else:
            where = traceback.extract_tb(e.__traceback__)[-1]
            _say(f"internal error: {type(e).__name__}: {e} (at {os.path.basename(where.filename)}:"
                 f"{where.lineno}); please report it; EDRQL_DEBUG=1 shows the traceback")
        return EXIT_DATA


def cmd_ingest(a) -> int:
    from .info import render_ingest
    from .ingest import ingest, refuse_case_sources, say_waiting
    from .progress import for_terminal
    from .store import writer
    refuse_case_sources(a.sources, a.case)
    hostmap = _read_hostmap(a.hostmap) if a.hostmap else None
    with writer(a.case, say_waiting) as case:   # the case's one writer, from its manifest as it is
        if hostmap:
            case.manifest.setdefault("hostmap", {}).update(hostmap)
        report = ingest(a.sources, case, _options(a), for_terminal("edrql ingest"))
        if hostmap and not report.sources and not report.rejected:
            case.commit()
    if not a.quiet or report.rejected:
        out = sys.stdout if not report.rejected else sys.stderr
        print(render_ingest(report), file=out)
    return EXIT_DATA if report.rejected else EXIT_OK


def _read_hostmap(path: str) -> dict[str, str]:
    """address,host lines (a header line and # comments allowed)."""
    import csv
    import ipaddress
    out = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for n, row in enumerate(csv.reader(fh), 1):
                if not row or row[0].strip().startswith("#"):
                    continue
                if len(row) < 2:
                    raise UsageError(f"--hostmap {path}, line {n}: expected address,host")
                addr, host = row[0].strip(), row[1].strip()
                try:
                    ipaddress.ip_address(addr)
                except ValueError:
                    if n == 1:
                        continue          # a header line
                    raise UsageError(f"--hostmap {path}, line {n}: {addr!r} is not an IP address")
                out[addr] = host
    except OSError as e:
        raise UsageError(f"--hostmap {path}: {e.strerror}") from None
    return out


def cmd_check(a) -> int:
    from .casecheck import check
    from .checkreport import render
    result = check(a.case, repair=a.repair)
    print(render(result))
    return EXIT_OK if result.healthy else EXIT_DATA


def cmd_info(a) -> int:
    from .info import render_case
    case, report, _ = _open(a.case, a, keep_options=False)
    print(render_case(case.manifest, case.root, a.format))
    if report and report.rejected:
        for r in report.rejected:
            _say(f"rejected {r['reason']}")
        return EXIT_DATA
    return EXIT_OK


def _now_setting(value, tz: str):
    """--now TIME|wall|end, checked before the case is opened."""
    from .reftime import RefTimeError, parse_setting
    try:
        return parse_setting(value, tz)
    except RefTimeError as e:
        raise UsageError(f"--now: {e}") from None


def cmd_query(a) -> int:
    from .outfile import format_for_path
    if not a.paths:
        query_parser().print_help(sys.stderr)
        return EXIT_USAGE
    interactive = False
    if a.query is None and a.script is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            interactive = True           # the REPL
        elif not sys.stdin.isatty():
            a.script = "-"               # a script piped in, as with -f -
        else:
            raise UsageError("no query: give -c 'QUERY' or -f script.edrql (the REPL needs a terminal)")
    if a.query is not None and a.script is not None:
        raise UsageError("give -c or -f, not both")
    if interactive:
        text = origin = ""
    elif a.script is not None:
        if a.script == "-":
            text = sys.stdin.read()
        else:
            try:
                with open(a.script, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as e:
                raise UsageError(f"-f {a.script}: {e.strerror}") from None
        origin = a.script
    else:
        text, origin = a.query, "-c"
    params = {}
    for p in a.param:
        if "=" not in p:
            raise UsageError(f"--param {p}: expected NAME=VALUE")
        k, v = p.split("=", 1)
        params[k.lstrip("$")] = v
    fmt = a.format or (format_for_path(a.output) if a.output and not interactive else
                       "table" if sys.stdout.isatty() else "csv")
    if fmt is None:               # -o FILE's extension names no format: ask, never guess
        raise UsageError(f"-o {a.output}: cannot tell the format from the file name; name it "
                         ".csv, .tsv, .json, .ndjson, .jsonl, .txt (table), .dot or .mmd, "
                         "or give --format")
    _check_options(a)
    if not interactive:           # `events | count` from the manifest: no pyarrow, no executor
        from .quickcount import answer
        rc = answer(a, text, fmt)
        if rc is not None:
            return rc
        _one_blas_thread()
        from .arrowstart import import_compute     # Arrow's compute functions without their
        import_compute()                            # help texts (~15 ms of every start)
    tz = a.tz or "UTC"
    now = _now_setting(a.now, tz)
    case, report, opts = _open(a.paths, a, keep_options=interactive)
    if report and report.rejected:
        for r in report.rejected:
            _say(f"rejected {r['reason']}")
    _layout_note(case)              # ---- migrate: once per run, before the REPL or a result
    if interactive:
        from .repl import run_repl
        from .store import is_case
        case_dir = a.paths[0] if len(a.paths) == 1 and is_case(a.paths[0]) else None
        return run_repl(case, case_dir=case_dir, opts=opts, params=params, tz=tz,
                        fmt=a.format or "table", output_file=a.output, now=now)
    from .query import run_script
    started(text)
    rc = run_script(case, text, origin, params=params, tz=tz, fmt=fmt, output=a.output,
                    escape=not a.no_csv_escape, receipt_path=a.receipt, verbose=a.verbose,
                    now=now)
    if rc == EXIT_OK and report and report.rejected:
        _say(f"the result leaves out {len(report.rejected)} rejected source(s) (exit status 1)")
        return EXIT_DATA
    return rc


def _one_blas_thread() -> None:
    """Before numpy is first imported: its BLAS (OpenBLAS) starts a thread per core at import,
    which spin for ~70 ms of CPU; a query does no linear algebra, and on a busy machine those
    threads take the cores the query runs on (a one-shot where + stats: 190 → 134 ms, median,
    with other work running). A value the user set is kept."""
    import os
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def started(text: str | None = None) -> None:
    """Start-up of a one-shot query is over (its modules imported, the parser loaded, the
    case opened): where the entry point turned the cycle collector off for it (fastexit),
    the start-up objects are frozen out of its view and collection resumes. The parser is
    loaded here unless the parse cache holds ``text``'s statements (edrql/parsecache.py:
    then Lark is not even imported)."""
    import gc
    if gc.isenabled():
        return
    from .parsecache import has
    if text is None or not has(text):
        from .parse import parser
        parser()
    gc.freeze()
    gc.enable()


def _open(paths: list[str], a, keep_options: bool):
    """The case the command line names, the report of exports ingested on the way (None for
    a case folder) and the ingest options: over a case folder nothing is ingested and the
    ingest machinery is not imported (options None), unless ``keep_options`` (the REPL,
    for its .ingest)."""
    from .caseref import resolve
    from .progress import for_terminal
    from .store import is_case, looks_like_case
    one_case = len(paths) == 1 and (is_case(paths[0]) or looks_like_case(paths[0]))
    opts = None if one_case and not keep_options else _options(a)
    case, report = resolve(paths, opts, for_terminal("edrql ingest"))
    return case, report, opts


# ---- migrate: `edrql migrate CASE` and the old-layout note (edrql.migrate)
def _migrate_parser(sub) -> None:
    pm = sub.add_parser("migrate", help="rewrite a case of the old layout (format 1) in the "
                                        "compact one; prints the sizes before and after")
    pm.add_argument("case", metavar="CASE", help="a case folder")
    pm.add_argument("-q", "--quiet", action="store_true",
                    help="no line per segment on standard error (the sizes are still printed)")


def cmd_migrate(a) -> int:
    from .migrate import migrate
    print(migrate(a.case, progress=None if a.quiet else _say).render())
    return EXIT_OK


def _layout_note(case) -> None:
    """Say on standard error (once per run) that the case has the old layout. A compact
    case says so in its segments' footers, which the query reads anyway (Case.all_compact):
    then edrql.migrate is not imported."""
    manifest = getattr(case, "manifest", None)
    if hasattr(case, "all_compact") and isinstance(manifest, dict) and manifest.get("format", 1) >= 2:
        from .store import CaseError
        try:
            if case.all_compact():
                return
        except (CaseError, OSError):
            pass                        # a damaged segment: migrate's check says what it can
    from .migrate import layout_note
    note = layout_note(case)
    if note:
        _say(note)
# ---- end migrate


# ---- hunt: `edrql hunt CASE_OR_EXPORTS... --rules PATH...` (edrql/sigma/; docs/sigma.md)
HUNT_FORMATS = ("table", "csv", "json", "timesketch")


def _hunt_parser(sub) -> None:
    ph = sub.add_parser("hunt", help="run Sigma rules over a case or exports: one row per hit, "
                                     "a per-rule summary and a receipt of every rule",
                        epilog="exit status: 0 the rules ran (hits or not), 1 a data error, "
                               "2 a usage error (unknown level, no such rules path, no rule "
                               "could be read)")
    ph.add_argument("paths", nargs="+", metavar="CASE_OR_EXPORTS",
                    help="a case folder, or export files/folders/zips (ingested once into a cache)")
    ph.add_argument("--rules", nargs="+", required=True, metavar="PATH",
                    help="Sigma rule files or folders (read recursively: *.yml, *.yaml)")
    ph.add_argument("--level", metavar="LEVEL",
                    help="minimum level: informational, low, medium, high, critical")
    ph.add_argument("--tags", action="append", default=[], metavar="TAG",
                    help="keep rules with any of these tags (repeatable or comma-separated; "
                         "attack.t1059 also keeps T1059.001)")
    ph.add_argument("--format", choices=HUNT_FORMATS,
                    help="table (default on a terminal), csv (Timeline Explorer; default "
                         "otherwise), json, timesketch (CSV with message, datetime, "
                         "timestamp_desc)")
    ph.add_argument("-o", dest="output", metavar="FILE", help="write the hit rows to FILE")
    ph.add_argument("--receipt", metavar="FILE", help="write the rule receipt (every rule, its "
                                                     "status and reason) as JSON to FILE")
    ph.add_argument("--no-csv-escape", action="store_true",
                    help="write CSV cells as they are (default: prefix cells starting with = + - "
                         "@ TAB CR with ' so spreadsheets do not run them as formulas)")
    _ingest_args(ph)


#: the hit columns a terminal table shows (the machine formats keep every column)
_TERMINAL_HITS = ("ts", "host", "level", "rule", "tags", "name", "cmdline", "matched",
                  "parent_link", "trust")


def cmd_hunt(a) -> int:
    import os
    from .sigma.stage import LEVELS, level_problem, path_problem
    if level_problem(a.level):
        raise UsageError(f"--level {a.level}: {level_problem(a.level)} (one of "
                         f"{', '.join(LEVELS)}; the minimum kept)")
    for p in a.rules:
        if path_problem(p):
            raise UsageError(f"--rules: {path_problem(p)}")
    tags = [t.strip() for spec in a.tags for t in spec.split(",") if t.strip()]
    fmt = a.format or ("table" if sys.stdout.isatty() and not a.output else "csv")
    if a.output and not a.format:
        ext = os.path.splitext(a.output)[1].lower()
        fmt = {".json": "json", ".txt": "table"}.get(ext, "csv")
    _check_options(a)
    _one_blas_thread()
    from .sigma.hunt import load_rules
    rs, left_out = load_rules(a.rules, level=a.level.lower() if a.level else None, tags=tags)
    if not rs.rules:
        _no_rules(a, rs, tags, left_out)
    case, report, _ = _open(a.paths, a, keep_options=False)
    if report and report.rejected:
        for r in report.rejected:
            _say(f"rejected {r['reason']}")
    from .query import make_context
    from .sigma.hunt import run
    ctx = make_context(case)
    h = run(case.events, rs, ctx, a.rules, left_out)
    try:
        _hunt_output(a, fmt, h)
    except OSError as e:
        if e.filename is None:
            raise
        _say(f"cannot write {e.filename}: {e.strerror}")
        return EXIT_DATA
    if report and report.rejected:
        _say(f"the hunt leaves out {len(report.rejected)} rejected source(s) (exit status 1)")
        return EXIT_DATA
    return EXIT_OK


def _no_rules(a, rs, tags, left_out: int) -> None:
    """No rule to run: a usage error that says why (exit 2)."""
    where = " ".join(a.rules)
    if left_out:
        raise UsageError(f"--rules {where}: no rule is left after "
                         + " and ".join(x for x in (a.level and f"--level {a.level}",
                                                    tags and f"--tags {','.join(tags)}") if x))
    if rs.skipped:
        s = rs.skipped[0]
        raise UsageError(f"--rules {where}: none of the {len(rs.skipped)} rule(s) could be read "
                         f"(e.g. {s.path}: {s.reason})")
    raise UsageError(f"--rules {where}: no Sigma rule found ({rs.files} .yml/.yaml file(s) read)")


def _hunt_output(a, fmt: str, h) -> None:
    import json
    from .render import render, terminal_width, to_table
    from .safetext import term_lines
    from .sigma.timeline import to_csv
    if fmt in ("csv", "timesketch"):
        data = to_csv(h.hits, fmt, escape=not a.no_csv_escape)
    elif fmt == "json":
        data = render(h.hits, "json")
    else:
        width = terminal_width() if sys.stdout.isatty() and not a.output else None
        data = to_table(h.hits.select(list(_TERMINAL_HITS)), width, None) + "\n"
    if a.receipt:
        doc = dict(h.receipt.to_json(), summary=json.loads(render(h.summary, "json")))
        with open(a.receipt, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, indent=1, default=str)
            fh.write("\n")
    machine = fmt != "table"
    if a.output:
        with open(a.output, "wb") as fh:
            fh.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        side = sys.stdout
    else:
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data)
        side = sys.stderr if machine else sys.stdout
    if h.summary.num_rows:
        print("per rule:", file=side)
        print(to_table(h.summary), file=side)
    print(term_lines(h.receipt.text()), file=side)
# ---- end hunt
