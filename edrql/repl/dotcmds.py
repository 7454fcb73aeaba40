"""Dot commands. One registry (``COMMANDS``) drives running them, ``.help``,
completion of their names and arguments, and docs/repl.md.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Callable

from tabulate import tabulate

from .. import catalog
from ..functions import AGGREGATIONS, FUNCTIONS, OPERATORS, STAGES, tables_doc
from ..safetext import term
from .output import FORMATS


def _cells(rows):
    """Table cells from the data made terminal-safe before tabulate measures them."""
    return [[term(c) if isinstance(c, str) else c for c in row] for row in rows]

TOPICS = {
    "commands": "the dot commands",
    "stages": "what may follow | (where, project, stats, tree() …)",
    "functions": "scalar functions (lower, basename, bin …)",
    "aggregations": "functions of stats (count, dcount, values …)",
    "operators": "comparison, string, list and arithmetic operators",
    "tables": "what a query may start from",
    "keys": "editing keys of the REPL",
}


@dataclass
class Command:
    name: str
    usage: str
    summary: str
    fn: Callable
    arg: str | None = None                   # None | "path" | "choice"
    choices: Callable | None = None          # repl -> [(value, meta)]


COMMANDS: dict[str, Command] = {}


def command(name, usage, summary, arg=None, choices=None):
    def deco(fn):
        COMMANDS[name] = Command(name, usage, summary, fn, arg, choices)
        return fn
    return deco


def arg_choices(repl, cmd: Command) -> list[tuple[str, str]]:
    return list(cmd.choices(repl)) if cmd.choices else []


def run(repl, text: str) -> bool:
    """Run a dot command line; False means quit."""
    body = text.strip()[1:]
    name, _, arg = body.partition(" ")
    arg = arg.strip()
    cmd = COMMANDS.get(name) or COMMANDS.get(ALIASES.get(name, ""))
    if cmd is None:
        from ..names import did_you_mean
        hint = did_you_mean(name, COMMANDS)
        repl.out.error(f"unknown command .{name}" + (f"; {hint}" if hint else "; .help lists them"))
        return True
    return cmd.fn(repl, arg) is not False


ALIASES = {"exit": "quit", "q": "quit", "h": "help", "?": "help"}


# ---------------------------------------------------------------- help
def _topic_choices(repl):
    out = [(t, d) for t, d in TOPICS.items()]
    out += [(n, "stage") for n in STAGES] + [(n, "function") for n in FUNCTIONS]
    out += [(n, "aggregation") for n in AGGREGATIONS if n not in FUNCTIONS]
    out += [(n, "operator") for n in OPERATORS] + [(n, "table") for n in tables_doc()]
    out += [("." + n, "command") for n in COMMANDS]
    return out


@command("help", ".help [topic]", "help: commands, stages, functions, operators, tables, or a name",
         "choice", _topic_choices)
def _help(repl, arg):
    repl.out.show(help_text(arg))


def help_text(topic: str = "") -> str:
    t = topic.strip()
    if not t:
        rows = [[c.usage, c.summary] for c in COMMANDS.values()]
        return (tabulate(rows, tablefmt="plain") + "\n\nhelp topics: " + ", ".join(TOPICS)
                + " — or any name: .help where, .help tree, .help contains, .help procs\n"
                "queries: events | where name == \"powershell.exe\" | project ts, host, cmdline"
                "   (Tab completes; Enter runs a complete statement)")
    if t == "commands":
        return help_text("")
    if t == "stages":
        return tabulate([[s.syntax, s.doc] for s in STAGES.values()], tablefmt="plain")
    if t == "functions":
        return tabulate([[f"{f.name}()", f.doc, f.example] for f in FUNCTIONS.values()],
                        tablefmt="plain")
    if t == "aggregations":
        return tabulate([[f"{a.name}()", a.doc, a.example] for a in AGGREGATIONS.values()],
                        tablefmt="plain")
    if t == "operators":
        return tabulate([[o.name, o.doc] for o in OPERATORS.values()], tablefmt="plain")
    if t == "tables":
        return tabulate(list(tables_doc().items()), tablefmt="plain") + \
            "\nlast           the previous result (also .last); let names are tables too"
    if t == "keys":
        return KEYS_HELP
    out = []
    name = t.lstrip(".")
    if t.startswith(".") and name in COMMANDS or (name in COMMANDS and name not in STAGES):
        c = COMMANDS[name]
        out.append(f"{c.usage}\n  {c.summary}")
    if t in STAGES:
        s = STAGES[t]
        out.append(f"stage {s.syntax}\n  {s.doc}\n  e.g. {s.example}")
    if t in FUNCTIONS:
        f = FUNCTIONS[t]
        n = f.min_args if f.min_args == f.max_args else f"{f.min_args}-{f.max_args}"
        out.append(f"function {f.name}() ({n} argument(s))\n  {f.doc}\n  e.g. {f.example}")
    if t in AGGREGATIONS:
        a = AGGREGATIONS[t]
        out.append(f"aggregation {a.name}()\n  {a.doc}\n  e.g. {a.example}")
    if t in OPERATORS:
        o = OPERATORS[t]
        out.append(f"operator {o.name}\n  {o.doc}\n  e.g. {o.example}")
    if t in tables_doc():
        out.append(f"table {t}\n  {tables_doc()[t]}\n  columns: .schema {t}")
    if not out:
        from ..names import did_you_mean
        names = list(TOPICS) + list(STAGES) + list(FUNCTIONS) + list(AGGREGATIONS) + \
            list(OPERATORS) + list(tables_doc()) + list(COMMANDS)
        hint = did_you_mean(t, names)
        return f"no help on {t!r}" + (f"; {hint}" if hint else "; topics: " + ", ".join(TOPICS))
    return "\n\n".join(out)


KEYS_HELP = """\
Enter          run the statement when it is complete; otherwise a new line
Alt-Enter      run now (Esc then Enter works too)
Tab            complete (tables, stages, fields, functions, operators, values in strings)
Ctrl-R         search the history          Right arrow   take the grey suggestion
Ctrl-C         clear the line; while a query runs: cancel it
Ctrl-D         quit (on an empty line)     .mode vi|emacs  editing keys"""


# ---------------------------------------------------------------- case
def _table_choices(repl):
    out = [(n, "table") for n in catalog.names(repl.ctx) if n not in repl.ctx.lets]
    out += [(n, "let") for n in repl.ctx.lets]
    return out


@command("tables", ".tables", "the tables a query may start from, with let names and last")
def _tables(repl, arg):
    rows = [[n, d] for n, d in tables_doc().items()]
    rows += [[n, (fn.__doc__ or "").strip().split("\n")[0]]
             for n, fn in catalog.pipe_tables(repl.ctx).items()]
    for n, t in repl.ctx.lets.items():
        rows.append([n, f"{'previous result' if n == 'last' else 'let'}: {t.num_rows:,} rows, "
                        f"{t.num_columns} columns"])
    repl.out.show(tabulate(_cells(rows), tablefmt="plain"), escaped=True)


@command("schema", ".schema [table]", "columns and types of a table (default events)", "choice",
         _table_choices)
def _schema(repl, arg):
    from ..schema import COLUMNS
    docs = {n: d for n, _, d in COLUMNS}
    name = arg or "events"
    ctx = repl.ctx
    if name in ctx.lets:
        schema = ctx.lets[name].schema
    elif name == "quarantine":
        schema = ctx.case.quarantine.schema
    elif name == "procs":
        if getattr(ctx.case, "_lineage", None) is not None:
            schema = ctx.case.lineage.procs.schema
        else:
            from ..lineage import PROCS_COLUMNS
            repl.out.show("procs columns (types once procs has been used):\n  " +
                          ", ".join(PROCS_COLUMNS))
            return
    elif name in catalog.TABLES and catalog.TABLES[name].schema(ctx) is not None:
        schema = catalog.TABLES[name].schema(ctx)      # ---- tables: from the catalog
    elif getattr(ctx.pipes.get(name), "is_table", False):
        cols = getattr(ctx.pipes[name], "table_columns", None)
        repl.out.show(f"{name} columns:\n  " + ", ".join(cols(ctx) if cols else []))
        return
    else:
        from ..names import did_you_mean
        hint = did_you_mean(name, list(tables_doc()) + list(ctx.lets))
        repl.out.error(f"unknown table {name!r}" + (f"; {hint}" if hint else ""))
        return
    norm = [[f.name, str(f.type), docs.get(f.name, "")] for f in schema if not f.name.startswith("raw.")]
    raw = [f.name for f in schema if f.name.startswith("raw.")]
    text = tabulate(_cells(norm), headers=["column", "type", "meaning"], tablefmt="simple")
    if raw:
        text += f"\n\n{len(raw)} raw vendor field(s) (text): " + ", ".join(term(r) for r in raw)
    repl.out.show(text, escaped=True)


@command("hosts", ".hosts", "hosts in the case with their data windows and event counts")
def _hosts(repl, arg):
    rows = []
    for host, h in repl.ctx.case.manifest.get("hosts", {}).items():
        top = ", ".join(f"{k} {v:,}" for k, v in list(h["events"].items())[:4])
        rows.append([host, (h["first"] or "")[:19], (h["last"] or "")[:19], h["rows"], top])
    repl.out.show(tabulate(_cells(rows), headers=["host", "first", "last", "events", "most common"],
                           intfmt=",") if rows else "(no hosts)", escaped=True)


@command("sources", ".sources", "the ingested sources with their accounting")
def _sources(repl, arg):
    from ..info import sources_table
    src = repl.ctx.case.manifest.get("sources", [])
    repl.out.show(sources_table(src) if src else "(no sources)", escaped=True)


@command("ingest", ".ingest PATH...", "append exports to the open case folder, then reopen it",
         "path")
def _ingest(repl, arg):
    if not arg:
        repl.out.error("usage: .ingest EXPORT... (files, folders or .zip)")
        return
    if repl.case_dir is None:
        repl.out.error("this REPL was opened on export files (a cached case); .ingest needs a case "
                       "folder: edrql ingest EXPORT... --case DIR, then edrql DIR")
        return
    from ..info import render_ingest
    from ..ingest import AccountingError, Options, ingest
    from ..readers.base import SourceError
    from ..store import Case, CaseError
    paths = [os.path.expanduser(p) for p in shlex.split(arg)]
    try:
        report = ingest(paths, Case.open(repl.case_dir), repl.opts or Options(), None)
    except (SourceError, CaseError, AccountingError) as e:
        repl.out.error(str(e))
        return
    except KeyboardInterrupt:
        repl.out.error("interrupted; the case is as it was before .ingest")
        return
    repl.set_case(Case.open(repl.case_dir))
    repl.out.show(render_ingest(report), escaped=True)
    repl.out.info(repl.summary())


# ---------------------------------------------------------------- output
@command("format", ".format [table|csv|tsv|json|ndjson|mermaid|dot]", "how results are shown",
         "choice", lambda repl: [(f, "") for f in FORMATS])
def _format(repl, arg):
    if not arg:
        repl.out.info(f"format {repl.fmt}")
    elif arg not in FORMATS:
        repl.out.error(f"unknown format {arg!r}; one of " + ", ".join(FORMATS))
    else:
        repl.fmt = arg


@command("output", ".output [FILE]", "write all later results to FILE (no FILE: back to the screen)",
         "path")
def _output(repl, arg):
    if not arg:
        repl.output_file = None
        repl.out.info("results go to the screen")
        return
    path = os.path.expanduser(arg)
    try:
        open(path, "w").close()
    except OSError as e:
        repl.out.error(f"cannot write {path}: {e.strerror}")
        return
    repl.output_file = path
    repl.out.info(f"results go to {os.path.abspath(path)} until .output")


@command("once", ".once FILE", "write the next result to FILE (format from its extension)", "path")
def _once(repl, arg):
    if not arg:
        repl.out.error("usage: .once FILE   (e.g. .once out.csv, then run a query or .last)")
        return
    repl.once_file = os.path.expanduser(arg)


@command("timing", ".timing [on|off]", "show how long each query took",
         "choice", lambda repl: [("on", ""), ("off", "")])
def _timing(repl, arg):
    if arg in ("on", "off"):
        repl.timing = arg == "on"
    repl.out.info(f"timing {'on' if repl.timing else 'off'}")


@command("pager", ".pager [on|off]", "page results taller than the screen ($PAGER, else less -RS)",
         "choice", lambda repl: [("on", ""), ("off", "")])
def _pager(repl, arg):
    if arg in ("on", "off"):
        repl.out.pager = arg == "on"
    repl.out.info(f"pager {'on' if repl.out.pager else 'off'}")


@command("expanded", ".expanded [auto|on|off]",
         "one block per record (field | value) for results too wide for the terminal",
         "choice", lambda repl: [("auto", "when the table does not fit"), ("on", "always"),
                                 ("off", "never")])
def _expanded(repl, arg):
    from .expanded import MIN_COLUMN, MODES
    if arg and arg not in MODES:
        repl.out.error(f"unknown setting {arg!r}; .expanded auto|on|off")
        return
    if arg:
        repl.out.expanded = arg
    what = {"auto": f"when a table cannot give each column {MIN_COLUMN} characters",
            "on": "for every result", "off": "never (tables are cut to the terminal's width)"}
    repl.out.info(f"expanded {repl.out.expanded}: one block per record {what[repl.out.expanded]}")


@command("last", ".last", "show the previous result again (in queries it is the table last)")
def _last(repl, arg):
    if repl.last is None:
        repl.out.error("no result yet")
        return
    repl.emit([repl.last])


# ---------------------------------------------------------------- session
@command("run", ".run FILE", "run a script file (statements separated by ; or a blank line)", "path")
def _run(repl, arg):
    if not arg:
        repl.out.error("usage: .run script.edrql")
        return
    path = os.path.expanduser(arg)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        repl.out.error(f"cannot read {path}: {e.strerror}")
        return
    repl.execute(text, origin=path)


@command("param", ".param [NAME [VALUE]]", "bind $NAME to VALUE (no VALUE: show it; none: list all)",
         "choice", lambda repl: [(k, v) for k, v in repl.ctx.scope.params.items()])
def _param(repl, arg):
    params = repl.ctx.scope.params
    if not arg:
        if not params:
            repl.out.info("no parameters; .param NAME VALUE binds $NAME")
        for k, v in sorted(params.items()):
            repl.out.line(f"${k} = {v!r}")
        return
    name, _, value = arg.partition(" ")
    name = name.lstrip("$")
    value = value.strip()
    if not value:
        repl.out.line(f"${name} = {params[name]!r}" if name in params else f"${name} is not bound")
        return
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    params[name] = value


# ---- reference time (edrql/reftime.py)
@command("now", ".now [TIME|wall|end]", "the reference time of now() and ago(): show it; set it to "
         "a time, the real clock (wall) or the end of the case's data (end, reset: the default)",
         "choice", lambda repl: [("end", "the end of the case's data (default)"),
                                 ("wall", "the real clock"), ("reset", "back to end")])
def _now(repl, arg):
    from ..reftime import RefTimeError, parse_setting
    if arg:
        try:
            setting = parse_setting(arg, repl.ctx.scope.tz)
        except RefTimeError as e:
            repl.out.error(str(e))
            return
        repl.set_now(setting)
    repl.out.info(repl.ctx.scope.reftime.text())


@command("mode", ".mode [vi|emacs]", "editing keys", "choice",
         lambda repl: [("emacs", ""), ("vi", "")])
def _mode(repl, arg):
    if arg in ("vi", "emacs"):
        repl.set_mode(arg)
    repl.out.info(f"{repl.mode} mode")


@command("quit", ".quit", "leave (Ctrl-D does the same)")
def _quit(repl, arg):
    return False
