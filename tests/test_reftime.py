"""The reference time of now()/ago(): the end of the case's data unless set (--now, .now,
now=), the same instant for a whole run, and said in the output whenever a query read it."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from edrql.query import execute_text, make_context
from edrql.reftime import END, WALL, RefTime, RefTimeError, case_end, iso_text, parse_setting
from test_cli import run as cli

END_OF_EXAMPLE = "2023-08-10T15:29:58.5484335Z"


def _run(case, text, **kw):
    return execute_text(make_context(case, **kw), text)


def test_default_is_the_end_of_the_case_data(example_case):
    r = _run(example_case, "events | summarize last = max(ts) | extend n = now()")[-1]
    assert r.table.column("last")[0] == r.table.column("n")[0]
    assert r.extra["now"]["now"] == END_OF_EXAMPLE
    assert r.extra["now"]["source"] == "end of the case's data"
    assert r.extra["footer"][-1] == f"now() = {END_OF_EXAMPLE} (end of the case's data; set with --now)"


def test_only_results_that_read_it_say_so(example_case):
    rs = _run(example_case, "events | count; events | where ts > ago(1h) | count; events | count")
    assert ["now" in r.extra for r in rs] == [False, True, False]
    # a let that read it is reported under the next shown result
    rs = _run(example_case, "let since = ago(10m); events | count; events | where ts > since | count")
    assert ["now" in r.extra for r in rs] == [True, False]


def test_every_now_of_a_run_is_the_same_instant(example_case):
    rs = _run(example_case, "events | extend a = now() | summarize n = dcount(a); "
              "events | take 1 | extend b = now() | project b", now="wall")
    assert rs[0].table.column("n")[0].as_py() == 1
    wall = rs[1].table.column("b")[0].cast(pa.int64()).as_py()
    real = dt.datetime.now(dt.timezone.utc).timestamp() * 1e9
    assert abs(real - wall) < 120e9                       # the real clock, read once
    assert rs[1].extra["now"]["source"] == "the real clock"


def test_a_given_time_and_zone_less_text_in_tz(example_case):
    r = _run(example_case, "events | take 1 | project n = now()", now="2023-08-10 15:00",
             tz="Asia/Tokyo")[-1]
    assert r.extra["now"]["now"] == "2023-08-10T06:00:00Z"
    assert r.extra["footer"][-1] == "now() = 2023-08-10T06:00:00Z (given with --now)"


def test_parse_setting():
    assert parse_setting(None) == END and parse_setting("end") == END and parse_setting("reset") == END
    assert parse_setting("wall") == WALL and parse_setting(" WALL ") == WALL
    t = parse_setting("2023-08-10T14:00:00.5+02:00")
    assert iso_text(t) == "2023-08-10T12:00:00.5Z"
    assert iso_text(parse_setting(dt.datetime(2023, 8, 10, 14, tzinfo=dt.timezone.utc))) == \
        "2023-08-10T14:00:00Z"
    for bad in ("tomorrow", "2023-13-45", 12):
        with pytest.raises(RefTimeError):
            parse_setting(bad)


def test_case_end_from_the_manifest_or_the_events():
    class Bare:                     # no manifest: one max over ts
        manifest = {}
        events = pa.table({"ts": pa.array([5, 9, None, 7], pa.int64()).cast(pa.timestamp("ns", "UTC"))})
    assert case_end(Bare())[0].cast(pa.int64()).as_py() == 9

    class Empty:
        manifest = {"totals": {"rows": 0}}
        events = pa.table({"ts": pa.array([], pa.timestamp("ns", "UTC"))})
    assert case_end(Empty()) == (None, "")
    rt = RefTime(Empty())
    rt.value()
    assert rt.source.startswith("the case holds no event times") and "real clock" in rt.text()


def test_proxy_clocks_do_not_move_the_end():
    """A network sensor whose clock runs ahead (Zeek of the OTRF LSASS run: +19 h) leaves the
    reference at the EDR's latest event, and the footer says how far the sensor runs."""
    class Mixed:
        events = None
        manifest = {"sources": [
            {"proxy": False, "time_range": ["2023-08-15T09:53:46Z", "2023-08-15T10:07:54.066Z"]},
            {"proxy": True, "time_range": ["2023-08-16T04:53:38Z", "2023-08-16T05:28:55.003Z"]}],
            "totals": {"last": "2023-08-16T05:28:55.003Z"}}
    rt = RefTime(Mixed())
    assert iso_text(rt.value()) == "2023-08-15T10:07:54.066Z"
    assert rt.text() == ("now() = 2023-08-15T10:07:54.066Z (end of the case's data: its latest EDR "
                         "event; proxy/sensor records run to 2023-08-16T05:28:55Z; set with --now)")
    Mixed.manifest = {"sources": [Mixed.manifest["sources"][1]]}       # only a sensor: its end
    assert iso_text(RefTime(Mixed()).value()) == "2023-08-16T05:28:55.003Z"


def test_cli_now_option_and_footer(example_case):
    root = example_case.root
    r = cli(root, "--format", "table", "-c", "events | where ts > ago(10m) | count")
    assert r.returncode == 0, r.stderr
    assert f"now() = {END_OF_EXAMPLE} (end of the case's data; set with --now)" in r.stdout
    assert "55" in r.stdout
    r = cli(root, "--format", "table", "--now", "2023-08-10T14:00:00Z", "-c",
            "events | where ts between (ago(10m) .. now()) | count")
    assert r.returncode == 0 and "now() = 2023-08-10T14:00:00Z (given with --now)" in r.stdout
    r = cli(root, "--format", "table", "-c", "events | count")
    assert "now()" not in r.stdout                          # not read: not said
    r = cli(root, "--now", "soonish", "-c", "events | count")
    assert r.returncode == 2 and "--now: not a time: 'soonish'" in r.stderr


def test_cli_csv_output_says_it_on_stderr(example_case):
    r = cli(example_case.root, "--format", "csv", "-c", "events | where ts > ago(10m) | count")
    assert r.returncode == 0
    assert r.stdout.split() == ['"count"', "55"]             # the data stays clean CSV
    assert f"now() = {END_OF_EXAMPLE}" in r.stderr


def test_receipt_file_names_the_reference_time_of_searches_that_read_it(example_case, tmp_path):
    out = tmp_path / "receipts.json"
    r = cli(example_case.root, "--format", "csv", "--receipt", str(out), "-c",
            'events | where ts > ago(1h) | search "cmd.exe" | count; search "cmd.exe" | count')
    assert r.returncode == 0, r.stderr
    import json
    first, second = json.loads(out.read_text(encoding="utf-8"))
    assert first["reference_time"]["now"] == END_OF_EXAMPLE
    assert first["reference_time"]["setting"] == "end"
    assert "reference_time" not in second               # that search read no now()


def test_repl_now_command(example_case):
    from test_repl import Driver

    def script(d):
        d.run_line(".now", f"now() = {END_OF_EXAMPLE} (end of the case's data; set with .now)")
        d.run_line(".now 2023-08-10T15:00:00Z", "now() = 2023-08-10T15:00:00Z (given with .now)")
        out = d.run_line("events | where ts between (ago(10m) .. now()) | count", "given with .now")
        d.snap["given"] = out
        d.run_line(".now bogus", "not a time")
        d.run_line(".now reset", "end of the case's data")
        d.snap["reset"] = d.run_line("events | where ts > ago(10m) | count", "end of the case's data")
    d = Driver(example_case).run(script)
    assert "now() = 2023-08-10T15:00:00Z" in d.snap["given"]
    assert "55" in d.snap["reset"]
