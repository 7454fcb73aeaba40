"""The reference time of a run: what ``now()`` and ``ago(d)`` mean.

An export is analysed after the fact, so "the last 7 days" means the export's last 7
days: by default the reference time is the end of the case's data (its latest event
time, from the manifest's totals, else one ``max`` over ``ts``). It can be set to a
time, or to the real clock (``wall``), with ``--now`` (CLI), ``.now`` (REPL) or
``now=`` (Python API).

It lives in the run's scope (``expr.Scope.reftime``), set by ``query.make_context``,
and is worked out once per run, on first use: every ``now()`` of a run is the same
instant. A result whose statement (or a ``let`` before it) read it says so in its
footer and carries it in ``extra["now"]``.
"""
from __future__ import annotations

import datetime as _dt

import pyarrow as pa
import pyarrow.compute as pc

from .schema import TS

#: the words --now / .now / now= take besides a time
END, WALL = "end", "wall"
SETTINGS = (END, WALL)


class RefTimeError(ValueError):
    """A --now / .now / now= value that is no time."""


def parse_setting(value, tz: str = "UTC"):
    """``None``/``"end"`` → END; ``"wall"`` → WALL; a time (ISO text, a datetime, a
    timestamp scalar) → ``pa.TimestampScalar`` (UTC; zone-less text is read in ``tz``)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", END, "reset")):
        return END
    if isinstance(value, str) and value.strip().lower() in (WALL, "clock"):
        return WALL
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_zone(tz))
        return pa.scalar(value, pa.timestamp("us", "UTC")).cast(TS)
    if isinstance(value, pa.TimestampScalar):
        if not value.is_valid:
            raise RefTimeError("the reference time is null")
        return value.cast(TS) if value.type.tz else pc.assume_timezone(value, tz).cast(TS)
    if not isinstance(value, str):
        raise RefTimeError(f"not a time: {value!r} (give an ISO 8601 time, 'wall' or 'end')")
    from .normalize import Ctx, parse_time
    arr, _ = parse_time(pa.array([value.strip()], pa.string()), Ctx(tz=tz))
    if not arr[0].is_valid:
        raise RefTimeError(f"not a time: {value!r}; give an ISO 8601 time such as "
                           "2023-08-10T15:00:00Z, 'wall' for the real clock or 'end' for the "
                           "end of the case's data")
    return arr[0]


def _zone(tz: str):
    import zoneinfo
    return _dt.timezone.utc if tz == "UTC" else zoneinfo.ZoneInfo(tz)


def wall_clock() -> pa.TimestampScalar:
    ns = int(_dt.datetime.now(_dt.timezone.utc).timestamp() * 1e6) * 1000
    return pa.scalar(ns, pa.int64()).cast(TS)


def case_end(case):
    """(the case's latest event time as a timestamp scalar, a remark), or (None, "") when it
    has none. Proxy and network-sensor sources count only in a case without EDR sources:
    their clocks may run off (the ``clocks`` table measures it; a Zeek log of the OTRF LSASS
    run is 19 hours ahead of its Sysmon events), and "the last hour" means the EDR's."""
    manifest = getattr(case, "manifest", None) or {}
    ends = {False: [], True: []}
    for src in manifest.get("sources") or []:
        rng = src.get("time_range") or [None, None]
        if len(rng) > 1 and rng[1]:
            ends[bool(src.get("proxy"))].append(rng[1])
    last = max(ends[False]) if ends[False] else max(ends[True]) if ends[True] else \
        (manifest.get("totals") or {}).get("last")
    if last:
        try:
            end = pc.cast(pa.array([last]), TS)[0]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            end = None
        if end is not None:
            later = [t for t in ends[True] if ends[False] and t > last]
            remark = "" if not later else \
                f"its latest EDR event; proxy/sensor records run to {max(later)[:19]}Z"
            return end, remark
    events = getattr(case, "events", None)
    if events is None or "ts" not in events.column_names or events.num_rows == 0:
        return None, ""
    top = pc.max(events["ts"])
    return (top.cast(TS), "") if top.is_valid else (None, "")


class RefTime:
    """The reference time of one run (or one REPL session): its setting, its value once
    worked out, and how often it was read (``uses``) against how many of those reads a
    shown result has already reported (``shown``)."""

    def __init__(self, case=None, setting=END, how: str = "--now"):
        self.case, self.setting, self.how = case, setting, how
        self._value: pa.TimestampScalar | None = None
        self._source = ""
        self.uses = 0
        self.shown = 0

    def value(self) -> pa.TimestampScalar:
        """The reference time (worked out on the first call); counts as a use."""
        self.uses += 1
        if self._value is None:
            self._value, self._source = self._resolve()
        return self._value

    def _resolve(self):
        if isinstance(self.setting, pa.TimestampScalar):
            return self.setting, "given"
        if self.setting == WALL:
            return wall_clock(), "the real clock"
        end, remark = case_end(self.case)
        if end is None:
            return wall_clock(), "the case holds no event times: the real clock"
        return end, "end of the case's data" + (f": {remark}" if remark else "")

    @property
    def source(self) -> str:
        if self._value is None:
            self._value, self._source = self._resolve()
        return self._source

    def text(self) -> str:
        """The footer line: ``now() = 2023-08-10T15:02:11Z (end of the case's data; set with --now)``."""
        if self._value is None:
            self._value, self._source = self._resolve()
        if self._source == "given":
            return f"now() = {iso_text(self._value)} (given with {self.how})"
        return f"now() = {iso_text(self._value)} ({self._source}; set with {self.how})"

    def record(self) -> dict:
        return {"now": iso_text(self._value), "source": self._source, "text": self.text(),
                "setting": self.setting if isinstance(self.setting, str) else "time"}

    def take_unshown(self) -> bool:
        """Was the reference time read since the last result that reported it? (It is
        reported from now on.)"""
        fresh = self.uses > self.shown
        self.shown = self.uses
        return fresh

    def copy(self) -> "RefTime":
        """The same setting, worked out again on its next use (a new run)."""
        return RefTime(self.case, self.setting, self.how)

    def for_input(self) -> "RefTime":
        """What one REPL input reads: the real clock is read again for each input; a fixed
        time or the case's end is the session's (so a let of ago() in one input is reported
        under the result of a later one that uses it)."""
        return self.copy() if self.setting == WALL else self


def iso_text(ts: pa.TimestampScalar) -> str:
    """ISO 8601 UTC, with as many fraction digits as the value needs (none for whole seconds)."""
    ns = ts.cast(pa.int64()).as_py()
    sec, frac = divmod(ns, 10**9)
    base = _dt.datetime.fromtimestamp(sec, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def attach(result, scope) -> None:
    """Mark a shown result whose statement (or a let before it) read the reference time:
    a footer line and ``extra["now"]``."""
    rt = getattr(scope, "reftime", None)
    if rt is None or not rt.take_unshown():
        return
    result.extra = dict(result.extra)
    result.extra["now"] = rt.record()
    result.extra["footer"] = list(result.extra.get("footer") or []) + [rt.text()]
