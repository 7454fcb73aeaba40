"""The EQL project's own Python engine (PyPI ``eql``) as the oracle for ``sequence``.

Helpers shared by tests/test_sequence_eql.py and benchmarks/bench_sequence.py:

* ``write_defender_csv`` — small Defender Advanced Hunting CSVs from plain dicts, so a test can
  build exactly the events it needs and ingest them like any export;
* ``edrql_sequences`` — edrql's default ``sequence`` output as a list of sequences (each a tuple
  of event identities, in step order), in edrql's sequence-number order;
* ``Spec`` — one sequence question written once and rendered as edrql text and as EQL text;
* ``eql_sequences`` — edrql's own events rows converted to ``eql.Event`` s (EQL event types from
  edrql's ``event`` column; time in ns; time order, input order for ties) and run through
  ``eql.PythonEngine``; the sequences it emits, in its order.

Join keys are given to EQL as extra fields (``k_<column>``) holding the lower-cased value, so
both engines fold text case the same way, and a null key becomes a value unique to its row:
edrql never joins null keys (documented difference), EQL joins null to null
(``raw_nulls=True`` keeps EQL's own behaviour, for the test of that difference).
"""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

# edrql `event` value → EQL event type (the mapping docs/language.md gives for categories)
_EXACT = {"dns_query": "dns", "image_load": "image_load", "http": "http"}
_PREFIX = {"process_": "process", "file_": "file", "registry_": "registry", "network_": "network"}


def eql_type(event: str | None) -> str:
    if event is None:
        return "other"
    if event in _EXACT:
        return _EXACT[event]
    for p, t in _PREFIX.items():
        if event.startswith(p):
            return t
    return "other"


# ---------------------------------------------------------------- fixtures: Defender CSV

def _generator_header() -> list:
    """The columns of benchmarks/gen_defender.py's export (one list for both)."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "gen_defender.py"
    spec = importlib.util.spec_from_file_location("gen_defender", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return list(mod.HEADER)


HEADER = _generator_header()

ACTIONS = {"process_start": "ProcessCreated", "file_create": "FileCreated", "file_modify": "FileModified",
           "file_delete": "FileDeleted", "registry_set": "RegistryValueSet",
           "network_connect": "ConnectionSuccess", "network_accept": "InboundConnectionAccepted",
           "dns_query": "DnsConnectionInspected", "image_load": "ImageLoaded"}

BASE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def stamp(seconds: float) -> str:
    """BASE + seconds as Defender writes it: 7 fractional digits and Z (100 ns steps)."""
    ticks = round(seconds * 10_000_000)
    t = BASE + dt.timedelta(microseconds=ticks // 10)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + str(ticks % 10) + "Z"


def write_defender_csv(path, rows: list[dict]) -> None:
    """rows: dicts with t (seconds after BASE), host, event (edrql name, see ACTIONS), name, pid
    (None → empty), path, rport. Each row gets its own ReportId (no duplicates)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i, r in enumerate(rows):
            d = dict.fromkeys(HEADER, "")
            d["Timestamp"] = stamp(r["t"])
            d["DeviceName"] = r["host"]
            d["DeviceId"] = "%040x" % (abs(hash(r["host"].lower())) % (1 << 160))
            d["ActionType"] = ACTIONS[r["event"]]
            pid = "" if r.get("pid") is None else str(r["pid"])
            name = r.get("name") or "x.exe"
            if r["event"] == "process_start":
                d.update(FileName=name, FolderPath="C:\\Windows\\" + name, ProcessId=pid,
                         ProcessCommandLine=name, ProcessCreationTime=d["Timestamp"],
                         InitiatingProcessFileName="explorer.exe", InitiatingProcessId="4",
                         InitiatingProcessFolderPath="C:\\Windows\\explorer.exe",
                         InitiatingProcessCreationTime=stamp(-3600))
            else:
                d.update(InitiatingProcessFileName=name, InitiatingProcessId=pid,
                         InitiatingProcessFolderPath="C:\\Windows\\" + name,
                         InitiatingProcessCreationTime=stamp(-3600) if pid else "")
            p = r.get("path")
            if p and r["event"].startswith("file_"):
                d["FolderPath"], d["FileName"] = p, p.rsplit("\\", 1)[-1]
            if p and r["event"].startswith("registry_"):
                d["RegistryKey"] = p
            if r.get("rport") is not None:
                d["RemotePort"], d["RemoteIP"] = str(r["rport"]), "10.0.0.1"
            d["ReportId"] = str(i + 1)
            w.writerow([d[h] for h in HEADER])


def make_ctx(tmp_path, rows: list[dict], name="case"):
    from edrql.ingest import Options, ingest
    from edrql.query import make_context
    from edrql.store import Case
    src = tmp_path / f"{name}.csv"
    write_defender_csv(src, rows)
    root = str(tmp_path / name)
    ingest([str(src)], Case.create_or_open(root), Options())
    return make_context(Case.open(root))


# ---------------------------------------------------------------- the question, twice

@dataclass
class Step:
    category: str            # EQL event type / edrql category ("any" for all rows)
    edrql: str               # the filter in edrql (may be "true")
    eql: str                 # the same filter in EQL
    by: list[str] = field(default_factory=list)    # per-step keys (column names)
    negated: bool = False    # ![…]: must not occur between its neighbours (edrql's rule, see below)


@dataclass
class Spec:
    by: list[str]
    steps: list[Step]
    maxspan: str | None = None           # "5s", "1m": whole seconds (EQL's engine truncates to seconds)
    until: Step | None = None

    def keys(self, st: Step) -> list[str]:
        return list(st.by) + list(self.by)

    def edrql_text(self) -> str:
        """As a stage (`| sequence …`): callers prepend the input."""
        def one(st):
            body = st.edrql if st.category is None else f"{st.category} where {st.edrql}"
            return ("!" if st.negated else "") + f"[{body}]" + (f" by {', '.join(st.by)}" if st.by else "")
        head = "sequence"
        if self.by:
            head += " by " + ", ".join(self.by)
        if self.maxspan:
            head += f" with maxspan={self.maxspan}"
        text = head + " " + " ".join(one(s) for s in self.steps)
        if self.until:
            text += " until " + one(self.until)
        return text

    def eql_text(self, raw_nulls: bool = False) -> str:
        def kf(c):
            return c if raw_nulls else "k_" + c.replace(".", "_")

        def one(st):
            ks = self.keys(st)
            return f"[{st.category or 'any'} where {st.eql}]" + (f" by {', '.join(kf(c) for c in ks)}" if ks else "")
        head = "sequence" + (f" with maxspan={self.maxspan}" if self.maxspan else "")
        text = head + "\n " + "\n ".join(one(s) for s in self.steps if not s.negated)
        if self.until:
            text += "\nuntil " + one(self.until)
        return text

    def key_columns(self) -> set[str]:
        out = set(self.by)
        for s in self.steps + ([self.until] if self.until else []):
            out.update(s.by)
        return out


# ---------------------------------------------------------------- running both

def _ident(r: dict) -> tuple:
    return (r["source"], r["record"])


def edrql_sequences(ctx, text: str) -> list[tuple]:
    """edrql's default output → [(identity of step 1, step 2, …), …] in sequence-number order."""
    from edrql.query import execute_text
    t = execute_text(ctx, text)[-1].table
    rows = t.select(["sequence", "step", "source", "record"]).to_pylist()
    seqs: dict[int, list] = {}
    for r in rows:
        seqs.setdefault(r["sequence"], []).append((r["step"], _ident(r)))
    out = []
    for sid in sorted(seqs):
        steps = sorted(seqs[sid])
        nums = [s for s, _ in steps]         # 1, 2, … (a ![…] step's number is skipped: 1, 3)
        assert nums[0] == 1 and all(a < b for a, b in zip(nums, nums[1:])), f"sequence {sid}: steps {steps}"
        out.append(tuple(i for _, i in steps))
    return out


def _fold(v):
    return v.lower() if isinstance(v, str) else v


def to_eql_events(table: pa.Table, key_columns=(), raw_nulls: bool = False, keep=()) -> list:
    """edrql events rows → eql.Event list in time order (input order for ties). Fields: every
    non-raw column (ts as int ns) and the raw ones named in keep, plus k_<key> join fields (see
    the module doc)."""
    import eql
    cols = [c for c in table.column_names if not c.startswith("raw.")]
    for c in list(key_columns) + list(keep):
        if c not in cols and c in table.column_names:
            cols.append(c)
    t = table.select(cols)
    for i, f in enumerate(t.schema):          # times as int ns (ts, pstart, …)
        if pa.types.is_timestamp(f.type):
            t = t.set_column(i, f.name, pc.cast(t[f.name], pa.int64()))
    ts = t["ts"]
    order = pc.sort_indices(pa.table({"ts": ts, "i": pa.array(range(t.num_rows))}),
                            sort_keys=[("ts", "ascending"), ("i", "ascending")])
    t = t.take(order)
    events = []
    for serial, d in enumerate(t.to_pylist()):
        d["serial_event_id"] = serial
        if not raw_nulls:
            for c in key_columns:
                v = d.get(c)
                d["k_" + c.replace(".", "_")] = ("\x00null", serial) if v is None else _fold(v)
        events.append(eql.Event(eql_type(d.get("event")), d["ts"], d))
    return events


def eql_sequences(events: list, query: str) -> list[tuple]:
    """Run one EQL query over converted events; the sequences in the order EQL emits them."""
    import eql
    engine = eql.PythonEngine({"time_unit": 10**9})      # our timestamps are ns
    engine.add_query(eql.parse_query(query))
    out = []
    engine.add_output_hook(lambda result: out.append(tuple(_ident(e.data) for e in result.events)))
    engine.stream_events(events)
    return out


def with_proc(ctx, table: pa.Table) -> pa.Table:
    """The case's whole events table with a ``proc`` column from its lineage (each row's acting
    process instance; null when it has none) — what ``by proc`` joins on."""
    import numpy as np
    lin = ctx.case.lineage
    idx = np.asarray(lin.event_proc, np.int64)
    assert len(idx) == table.num_rows, "with_proc needs the whole events table"
    keys = lin.procs.column("proc").take(pa.array(np.maximum(idx, 0)))
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    if pa.types.is_dictionary(keys.type):
        keys = keys.dictionary_decode()
    return table.append_column("proc", pc.if_else(pa.array(idx >= 0), keys, pa.scalar(None, keys.type)))


def compare(ctx, spec: Spec, source: str = "events", raw_nulls: bool = False):
    """(edrql's sequences, eql's sequences) for one Spec over one input pipeline.

    ``![…]`` steps: EQL runs the query without them, then a sequence is dropped when an event
    matching a ``![…]`` step (its category, its edrql filter — evaluated by edrql — and its keys)
    lies strictly between the events of its neighbouring steps (time order, input order for
    ties): edrql's documented rule, which EQL's Python engine does not implement."""
    from edrql.query import execute_text
    text = f"{source} | {spec.edrql_text()}"
    mine = edrql_sequences(ctx, text)
    rows = execute_text(ctx, source)[-1].table
    if "proc" in spec.key_columns() and "proc" not in rows.column_names:
        rows = with_proc(ctx, rows)
    events = to_eql_events(rows, sorted(spec.key_columns()), raw_nulls)
    theirs = eql_sequences(events, spec.eql_text(raw_nulls))
    if any(s.negated for s in spec.steps):
        theirs = _drop_negated(ctx, spec, source, events, theirs)
    return mine, theirs


def _drop_negated(ctx, spec: Spec, source: str, events: list, seqs: list) -> list:
    from edrql.query import execute_text
    at = {_ident(e.data): e for e in events}

    def key(e, st):
        return tuple(e.data["k_" + c.replace(".", "_")] for c in spec.keys(st))
    positive = [s for s in spec.steps if not s.negated]
    out = seqs
    for k, st in enumerate(spec.steps):
        if not st.negated:
            continue
        i = sum(1 for s in spec.steps[:k] if not s.negated)        # between positive i-1 and i
        hit = execute_text(ctx, f"{source} | where {st.edrql} | project source, record")[-1].table
        bad: dict = {}
        for r in hit.to_pylist():
            e = at[_ident(r)]
            if st.category in (None, "any") or e.type == st.category:
                bad.setdefault(key(e, st), []).append(e.data["serial_event_id"])
        keep = []
        for sq in out:
            lo, hi = at[sq[i - 1]], at[sq[i]]
            serials = bad.get(key(at[sq[0]], positive[0]), [])
            if not any(lo.data["serial_event_id"] < x < hi.data["serial_event_id"] for x in serials):
                keep.append(sq)
        out = keep
    return out
