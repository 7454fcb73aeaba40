"""What ``edrql check`` found and did, and how it is shown (terminal-safe)."""
from __future__ import annotations

from dataclasses import dataclass, field

PROBLEM, REPAIRED, NOTE = "problem", "repaired", "note"
AREAS = ("writer", "manifest", "segments", "accounting", "orphans", "derived", "search")


@dataclass
class Finding:
    area: str
    status: str
    text: str


@dataclass
class CheckResult:
    root: str
    repair: bool
    findings: list[Finding] = field(default_factory=list)
    ok: dict[str, str] = field(default_factory=dict)     # area → what was found fine
    summary: str = ""
    uncommitted: set = field(default_factory=set)        # a killed writer's files (left alone)

    @property
    def healthy(self) -> bool:
        return not any(f.status == PROBLEM for f in self.findings)

    def add(self, area: str, status: str, text: str) -> None:
        self.findings.append(Finding(area, status, text))


def render(res: CheckResult) -> str:
    from .safetext import term
    lines = [f"edrql check {term(res.root)}" + (" --repair" if res.repair else "")]
    if res.summary:
        lines.append(f"case: {term(res.summary)}")
    for area in AREAS:
        found = [f for f in res.findings if f.area == area]
        if area in res.ok and not any(f.status != NOTE for f in found):
            lines.append(f"  ok        {area}: {term(res.ok[area])}")
        for f in found:
            lines.append(f"  {f.status.upper() if f.status != NOTE else 'note':<9} {area}: "
                         f"{term(f.text)}")
    problems = sum(f.status == PROBLEM for f in res.findings)
    repaired = sum(f.status == REPAIRED for f in res.findings)
    if problems:
        hint = "" if res.repair else f"; run: edrql check {term(res.root)} --repair"
        lines.append(f"result: {problems} problem(s) remain{hint}")
    elif repaired:
        lines.append(f"result: repaired {repaired} problem(s); the case is healthy")
    else:
        lines.append("result: healthy")
    return "\n".join(lines)
