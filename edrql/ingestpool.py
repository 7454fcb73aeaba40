"""Multi-file ingests on both cores: sources are read, normalized and encoded in two
reading processes while the case's writer deduplicates and writes them in input order.

A reading process gets a plain file (a zip member is extracted by the writer first, as it
would be to read it there) and hands its source back as an Arrow IPC stream in a private
temporary folder, which the writer memory-maps (no copy through a pipe) and removes once
mapped. A source whose reading fails is that source's rejection, with the reader's own
message; a reading process that dies takes only the source it was reading with it, the
rest are read by the writer itself. The processes are started with "spawn" (no fork of a
threaded process) and import only what reading needs (:mod:`edrql.ingestsource`).
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import shutil
import tempfile

import pyarrow as pa

from .caselock import open_sink
from .readers.base import Input
from .readers.errors import SourceError

WORKERS = 2
POOL_MIN_BYTES = 16 << 20   # below this much input, starting the processes costs more than it saves
AHEAD = 2                   # sources read ahead of the writer, per process


def workers_wanted(inputs: list[Input], given: int | None) -> int:
    """How many reading processes: ``given``, else ``EDRQL_INGEST_WORKERS``, else 2 when
    there are two or more readable sources and enough bytes to pay for the start; 0: none."""
    env = os.environ.get("EDRQL_INGEST_WORKERS", "")
    n = given if given is not None else (int(env) if env.isdigit() else None)
    readable = [i for i in inputs if not i.error]
    if len(readable) < 2 or n is not None and n < 2:
        return 0
    if n is None:
        big = sum(i.size for i in readable) >= POOL_MIN_BYTES
        return WORKERS if big and main_is_safe() else 0
    return n


def main_is_safe() -> bool:
    """Whether a "spawn" process can start without running the caller's script again: the
    edrql command (its script runs nothing on import), ``python -m`` or ``-c``, a REPL — not a
    user's script calling the API without ``if __name__ == "__main__":`` (multiprocessing would
    run it again in each process; such a caller can still ask for workers explicitly)."""
    import sys
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.rpartition(".")[2] == "__main__":
        return True
    path = getattr(main, "__file__", None)
    return path is None or os.path.basename(path) in ("edrql", "edrql.exe")


class Readers:
    """Sources read ahead in reading processes; :meth:`take` gives them back in order."""

    def __init__(self, inputs: list[Input], opts, workers: int):
        self.inputs = inputs
        self.opts = opts
        self.tmp = tempfile.mkdtemp(prefix="edrql-ingest-")
        self.pool = cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                           initializer=_quiet)
        self.ahead = workers * AHEAD
        self.jobs: dict[int, object] = {}      # index → future, or the SourceError to raise
        self.next = 0
        self.broken = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _submit_upto(self, last: int) -> None:
        while self.next <= last and self.next < len(self.inputs) and not self.broken:
            i, inp = self.next, self.inputs[self.next]
            self.next += 1
            if inp.error:
                continue                       # read (and rejected) by the writer
            try:
                path = self._own(inp, i)
            except SourceError as e:
                self.jobs[i] = e
                continue
            job = {"name": inp.name, "path": path, "size": inp.size, "encoding": self.opts.encoding,
                   "tz": self.opts.tz, "tz_given": self.opts.tz_given, "mapping": self.opts.mapping,
                   "block": self.opts.block_size, "out": os.path.join(self.tmp, f"{i}.arrows")}
            self.jobs[i] = self.pool.submit(work, job)

    def _own(self, inp: Input, i: int) -> str:
        """The source's file for a reading process. A zip member is extracted here and linked
        into the private folder: its archive keeps only its last few extractions."""
        path = inp.local_path()
        if inp.archive is None:
            return path
        mine = os.path.join(self.tmp, f"{i}.src")
        try:
            os.link(path, mine)
        except OSError:
            shutil.copyfile(path, mine)
        return mine

    def take(self, i: int):
        """Source ``i`` prepared (an :class:`~.ingestsource.Prepared`), or None when the writer
        is to read it itself; SourceError when it cannot be read."""
        self._submit_upto(i + self.ahead)
        job = self.jobs.pop(i, None)
        if job is None:
            return None
        if isinstance(job, SourceError):
            raise job
        try:
            status, value = job.result()
        except cf.process.BrokenProcessPool as e:
            self.broken = True                 # the rest are read by the writer
            for f in self.jobs.values():
                if isinstance(f, cf.Future):
                    f.cancel()
            self.jobs = {k: v for k, v in self.jobs.items() if isinstance(v, SourceError)}
            raise SourceError(f"{self.inputs[i].name}: not read: the process reading it ended "
                              f"abnormally ({e or 'killed?'})") from None
        src = os.path.join(self.tmp, f"{i}.src")
        if os.path.exists(src):
            os.unlink(src)
        if status == "error":
            raise SourceError(value)
        out = os.path.join(self.tmp, f"{i}.arrows")
        if value.table is None:
            value.table = pa.ipc.open_stream(pa.memory_map(out, "r")).read_all()
            os.unlink(out)                     # the mapping stays valid
        return value


def _quiet() -> None:
    """A reading process leaves Ctrl-C to the writer (which stops the pool): no tracebacks."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_MAPPINGS: dict = {}


def work(job: dict):
    """In a reading process: prepare one source, its rows to ``job["out"]``."""
    return _work(job)


def _work(job: dict):
    from .ingestsource import prepare
    from .normalize import Ctx
    mapping_profile = None
    try:
        if job["mapping"]:
            if job["mapping"] not in _MAPPINGS:
                from .profiles import mapping
                _MAPPINGS[job["mapping"]] = mapping.load(job["mapping"])
            mapping_profile = _MAPPINGS[job["mapping"]]
        inp = Input(job["name"], job["path"], None, job["size"])
        prep = prepare(inp, job["encoding"], Ctx(job["tz"], job["tz_given"]), mapping_profile, job["block"])
    except SourceError as e:
        return "error", str(e)
    table, prep.table = prep.table, None
    with open_sink(job["out"]) as sink:
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
    return "ok", prep
