"""Command line: ``edrql ingest``, ``edrql info``.

Exit status: 0 success; 1 a data error (a source rejected, a damaged case);
2 a usage error.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .ingest import AccountingError, Options
from .readers.base import SourceError
from .store import Case, CaseError

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
edrql — a local, honest query tool over raw EDR log exports.

commands:
  edrql ingest SOURCE... --case DIR   ingest exports (CSV/JSON/EVTX/zip) into a case folder
  edrql info CASE_OR_EXPORTS...       what a case holds: sources, counts, hosts, time ranges

SOURCE and CASE_OR_EXPORTS may be export files, folders or .zip archives; export files
given to `info` are ingested once into a cached case (keyed by content hash).
"""


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tz", metavar="ZONE",
                   help="time zone for time values that carry none (default UTC), e.g. Asia/Tokyo")
    p.add_argument("--mapping", metavar="FILE",
                   help="TOML mapping file naming the columns of an export edrql does not know")
    p.add_argument("--encoding", metavar="ENC",
                   help="force the text encoding (default: detected: BOM, UTF-8, cp932, mixed)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edrql", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"edrql {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    pi = sub.add_parser("ingest", help="ingest exports into a case folder (creates or appends)")
    pi.add_argument("sources", nargs="+", metavar="SOURCE")
    pi.add_argument("--case", required=True, metavar="DIR", help="case folder (created if absent)")
    _ingest_args(pi)
    pi.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    pn = sub.add_parser("info", help="summarize a case (or raw exports, via the cache)")
    pn.add_argument("case", nargs="+", metavar="CASE_OR_EXPORTS")
    pn.add_argument("--format", choices=["table", "json"], default="table")
    _ingest_args(pn)
    return p


def _options(a) -> Options:
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
    return Options(tz=a.tz or "UTC", tz_given=bool(a.tz), mapping=a.mapping, encoding=a.encoding)


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    a = parser.parse_args(argv)
    try:
        if a.command == "ingest":
            return cmd_ingest(a)
        if a.command == "info":
            return cmd_info(a)
    except UsageError as e:
        print(f"edrql: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (SourceError, CaseError, AccountingError) as e:
        print(f"edrql: {e}", file=sys.stderr)
        return EXIT_DATA
    except KeyboardInterrupt:
        print("edrql: interrupted; the case is as it was before this command", file=sys.stderr)
        return 130
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def cmd_ingest(a) -> int:
    from .info import render_ingest
    from .ingest import ingest
    from .progress import for_terminal
    case = Case.create_or_open(a.case)
    report = ingest(a.sources, case, _options(a), for_terminal("edrql ingest"))
    if not a.quiet or report.rejected:
        out = sys.stdout if not report.rejected else sys.stderr
        print(render_ingest(report), file=out)
    return EXIT_DATA if report.rejected else EXIT_OK


def cmd_info(a) -> int:
    from .caseref import resolve
    from .info import render_case
    from .progress import for_terminal
    case, report = resolve(a.case, _options(a), for_terminal("edrql ingest"))
    print(render_case(case.manifest, case.root, a.format))
    if report and report.rejected:
        for r in report.rejected:
            print(f"edrql: rejected {r['reason']}", file=sys.stderr)
        return EXIT_DATA
    return EXIT_OK
