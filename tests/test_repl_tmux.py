"""End to end: the installed ``edrql`` in a real terminal (tmux): open the example
case, complete a field with Tab, run a tree() query, page through a long result
with less, see a wide result in the expanded display, quit with Ctrl-D. Skips when tmux is not installed.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("less") is None,
                                reason="needs tmux and less")


class Tmux:
    def __init__(self, cmd: str, env: dict, width: int = 130, height: int = 30):
        self.sock = f"edrql-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.name = "repl"
        full = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        script = f"env {full} {cmd}; echo EDRQL-EXIT-$?; sleep 30"
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                  "sh", "-c", script)

    def tmux(self, *args) -> str:
        r = subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True,
                           timeout=30)
        return r.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys)

    def type(self, text: str) -> None:
        self.keys(text, literal=True)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait(self, cond, timeout: float = 30.0, what: str = "") -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            s = self.screen()
            if cond(s):
                return s
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")

    def close(self) -> None:
        path = self.tmux("display-message", "-p", "#{socket_path}").strip()
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=30)
        if path and os.path.basename(path) == self.sock and os.path.exists(path):
            os.unlink(path)


def test_repl_in_a_real_terminal(example_case, tmp_path):
    env = {"PAGER": "less", "LESS": "", "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "TERM": "xterm-256color",
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HOME": os.environ.get("HOME", "/root"),
           "PATH": os.environ.get("PATH", "")}
    cmd = f"{shlex.quote(sys.executable)} -m edrql {shlex.quote(example_case.root)}"
    t = Tmux(cmd, env)
    try:
        s = t.wait(lambda s: "\nedrql>" in s, what="the prompt")
        assert "2 host(s)" in s and "797 rows" in s

        # complete a field with Tab: the menu (open while typing) lists it, Tab takes it
        t.type("procs | where pna")
        t.wait(lambda s: "pname" in s.split("edrql> procs", 1)[-1], what="completion menu")
        t.keys("Tab")
        t.wait(lambda s: "edrql> procs | where pname" in s, what="pname inserted")
        t.keys("Enter")                 # closes the menu
        time.sleep(0.2)
        t.type(' contains "winword"')
        t.keys("Enter")
        t.wait(lambda s: "row(s) in" in s, what="the query ran")

        # a tree() query: indented tree with the completeness footer
        t.keys("C-l")
        t.type('procs | where name == "winword.exe" | tree()')
        t.keys("Enter")
        s = t.wait(lambda s: "data window for" in s and "edrql>" in s.split("data window for")[-1],
                   what="the tree")
        assert "*WINWORD.EXE" in s and ("└─" in s or "`-" in s)

        # a result taller than the screen goes through the pager
        t.keys("C-l")
        t.type("events | sort by ts asc | project ts, host, event, name")
        t.keys("Enter")
        first = t.wait(lambda s: "2023-08-10T13:30:21" in s and "row(s) in" not in s,
                       what="the pager's first page")
        t.keys("Space")
        t.wait(lambda s: s != first and "2023-08-10T13:30:21" not in s, what="the next page")
        t.keys("q")
        t.wait(lambda s: "797 row(s) in" in s, what="back at the prompt after q")

        # a result too wide for the terminal: the expanded display, one block per record, paged
        t.keys("C-l")
        t.type('events | where name == "powershell.exe"')
        t.keys("Enter")
        s = t.wait(lambda s: "-[ RECORD 1 ]-" in s, what="the expanded display in the pager")
        assert "columns do not fit 130 characters" in s and "empty field(s) left out" in s
        assert all(len(x) <= 130 for x in s.splitlines())
        t.keys("q")
        t.wait(lambda s: "8 row(s) in" in s, what="back at the prompt")

        # Ctrl-D quits
        t.keys("C-d")
        t.wait(lambda s: "EDRQL-EXIT-0" in s, what="exit status 0")
    finally:
        t.close()
    hist = tmp_path / "state" / "edrql" / "history"
    assert hist.exists() and "tree()" in hist.read_text()
