"""The REPL takes a pasted multi-line KQL hunting query (bracketed paste, as terminals send
it) as one script: `//` comments, a `let` ended by ';', pipes at the start of lines, a join.
One Enter after the paste runs it; the Device* table's rows and the reference-time footer
are shown, and `.now` moves the reference time."""
from __future__ import annotations

from test_repl import ENTER, Driver

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"

HUNT = """// PowerShell started by Word, and the connections its process made
let starts = DeviceProcessEvents
    | where InitiatingProcessFileName =~ "winword.exe"
    | project DeviceId, ProcessId, FileName;
DeviceNetworkEvents
| join kind=inner starts on DeviceId, $left.InitiatingProcessId == $right.ProcessId
| summarize Connections = count() by FileName, RemoteUrl"""


def test_pasted_kql_query_runs_once_as_a_script(example_case):
    def script(d):
        n = len(d.printed())
        d.send(PASTE_START + HUNT + PASTE_END, pause=0.3)
        d.snap["before_enter"] = d.printed()[n:]
        d.send(ENTER)
        d.snap["out"] = d.wait(lambda: "powershell.exe" in d.printed()[n:] and d.printed()[n:],
                               20, "the join's result")
    d = Driver(example_case).run(script)
    assert "powershell.exe" not in d.snap["before_enter"]     # the paste itself ran nothing
    out = d.snap["out"]
    assert "powershell.exe" in out
    assert "error" not in out.lower()


def test_now_command_sets_the_reference_time(example_case):
    def script(d):
        d.run_line('events | where ts > ago(1h) | count', "now() =")
        d.run_line(".now 2023-08-10T14:00:00Z", "")
        n = len(d.printed())
        d.run_line('events | where ts > ago(1h) | count', "now() = 2023-08-10T14:00:00")
        d.snap["after"] = d.printed()[n:]
    d = Driver(example_case).run(script)
    assert "end of the case" not in d.snap["after"]
