"""The rule receipt of a Sigma run: what was read, what could not run and why, what had no
data to look at, what ran without a hit, what fired — always shown, so that a rule that
silently does nothing cannot happen.

    read = converted + not supported
    converted = not applicable + no hits + fired + failed

``lines()`` is the short form (printed by ``edrql hunt``, the notes of ``sigma()``): rules
not applicable are grouped by their reason ("you exported no registry events: 812 rules"),
so a thousand registry rules over a proxy log read as one line. ``to_json()`` lists every
rule (``edrql hunt --receipt FILE``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: how many rules a short line names before "and N more"
NAMED = 3
#: how many reasons of "not applicable" the short form gives a line of its own (the
#: largest groups; the rest are counted on one line)
GROUPS = 12


def _rule(r, **more) -> dict:
    """A rule as the receipt names it: DRL 1.1 asks that id, title, author and level stay."""
    return dict({"id": r.id, "title": r.title, "author": r.author, "level": r.level,
                 "path": r.path}, **more)


@dataclass
class Receipt:
    paths: list[str]
    files: int                              # rule files read
    events: int                             # rows the rules ran over
    converted: int
    not_supported: list[dict] = field(default_factory=list)
    not_applicable: list[dict] = field(default_factory=list)   # {reason, rules: [...]}
    no_hits: list[dict] = field(default_factory=list)
    fired: list[dict] = field(default_factory=list)            # with hits, hosts
    failed: list[dict] = field(default_factory=list)           # with reason
    missing_fields: list[dict] = field(default_factory=list)   # {field, rules: [ids]}
    hits: int = 0
    flagged: int = 0                        # hits with a trust note
    left_out: int = 0                       # rules read but left out by level / tags
    trust_notes: list[dict] = field(default_factory=list)     # the flagged hits

    @property
    def read(self) -> int:
        return self.converted + len(self.not_supported)

    @property
    def n_not_applicable(self) -> int:
        return sum(len(g["rules"]) for g in self.not_applicable)

    def adds_up(self) -> bool:
        return self.converted == (self.n_not_applicable + len(self.no_hits) + len(self.fired)
                                  + len(self.failed))

    # ------------------------------------------------------------ text
    def lines(self) -> list[str]:
        where = ", ".join(self.paths)
        out = [f"sigma: {self.read:,} rule(s) read from {self.files:,} file(s) ({where}): "
               f"{self.converted:,} converted, {len(self.not_supported):,} not supported"
               f"{self._left_out()}; over {self.events:,} event(s)"]
        for s in self.not_supported[:GROUPS]:
            out.append(f"  not supported: {_name(s)}: {s['reason']}")
        if len(self.not_supported) > GROUPS:
            out.append(f"  not supported: … and {len(self.not_supported) - GROUPS:,} more "
                       "(--receipt FILE lists each with its reason)")
        for g in self.not_applicable[:GROUPS]:
            out.append(f"  not applicable: {len(g['rules']):,} rule(s): {g['reason']}"
                       f"{_some(g['rules'])}")
        rest = self.not_applicable[GROUPS:]
        if rest:
            out.append(f"  not applicable: … {sum(len(g['rules']) for g in rest):,} more rule(s) "
                       f"for {len(rest):,} other reason(s) (--receipt FILE lists each)")
        if self.no_hits:
            out.append(f"  ran with no hits: {len(self.no_hits):,} rule(s){_some(self.no_hits)}")
        for f in self.failed[:GROUPS]:
            out.append(f"  failed: {_name(f)}: {f['reason']}")
        if len(self.failed) > GROUPS:
            out.append(f"  failed: … and {len(self.failed) - GROUPS:,} more (--receipt FILE lists each)")
        flagged = f" ({self.flagged:,} with a trust note: see parent_link)" if self.flagged else ""
        out.append(f"  fired: {len(self.fired):,} rule(s), {self.hits:,} hit(s){flagged}")
        for t in self.trust_notes[:GROUPS]:
            out.append(f"  trust: {t.get('rule')} on {t.get('host')} ({t.get('name')}, "
                       f"{t.get('ts')}): {t.get('trust')}")
        if len(self.trust_notes) > GROUPS:
            out.append(f"  trust: … and {len(self.trust_notes) - GROUPS:,} more hit(s) with a note")
        if self.missing_fields:
            shown = ", ".join(f"{m['field']} ({len(m['rules'])})" for m in self.missing_fields[:8])
            more = f", … {len(self.missing_fields) - 8} more" if len(self.missing_fields) > 8 else ""
            out.append(f"  fields this data has no column for (read as absent; rules reading "
                       f"them): {shown}{more}")
        return out

    def _left_out(self) -> str:
        return (f" ({self.left_out:,} more left out by the level/tags asked for)"
                if self.left_out else "")

    def text(self) -> str:
        return "\n".join(self.lines())

    def to_json(self) -> dict:
        return {"paths": self.paths, "files": self.files, "events": self.events,
                "counts": {"read": self.read, "converted": self.converted,
                           "not_supported": len(self.not_supported),
                           "not_applicable": self.n_not_applicable,
                           "no_hits": len(self.no_hits), "fired": len(self.fired),
                           "failed": len(self.failed), "hits": self.hits,
                           "left_out_by_level_or_tags": self.left_out,
                           "flagged_hits": self.flagged},
                "not_supported": self.not_supported, "not_applicable": self.not_applicable,
                "no_hits": self.no_hits, "fired": self.fired, "failed": self.failed,
                "missing_fields": self.missing_fields, "trust_notes": self.trust_notes}


def _name(d: dict) -> str:
    title = d.get("title") or "(no title)"
    return f"{title} ({d['id']})" if d.get("id") else f"{title} ({d.get('path')})"


def _some(rules: list[dict]) -> str:
    names = [r.get("title") or r.get("id") or "?" for r in rules[:NAMED]]
    more = f", … {len(rules) - NAMED:,} more" if len(rules) > NAMED else ""
    return " — " + "; ".join(names) + more


def build(paths, ruleset, outcome, per_rule: dict, events: int, flagged: int,
          left_out: int = 0) -> Receipt:
    """The receipt of ``outcome`` (engine.evaluate's) over ``ruleset``; ``per_rule``: rule
    index → (hits, hosts) from the hit rows."""
    rules = ruleset.rules
    rc = Receipt(paths=list(paths), files=ruleset.files, events=events, converted=len(rules),
                 flagged=flagged, left_out=left_out)
    rc.not_supported = [{"id": s.id, "title": s.title, "author": s.author, "level": s.level,
                         "path": s.path, "reason": s.reason} for s in ruleset.skipped]
    groups: dict[str, list] = {}
    for k, (r, (status, why)) in enumerate(zip(rules, outcome.status)):
        if status == "fired":
            hits, hosts = per_rule.get(k, (0, 0))
            rc.fired.append(_rule(r, hits=hits, hosts=hosts))
            rc.hits += hits
        elif status == "no hits":
            rc.no_hits.append(_rule(r))
        elif status == "not applicable":
            groups.setdefault(why or "no data for its logsource", []).append(_rule(r))
        else:                                   # "failed", or a status this code does not know
            rc.failed.append(_rule(r, reason=why or status))
    rc.not_applicable = [{"reason": why, "rules": rs}
                         for why, rs in sorted(groups.items(), key=lambda g: -len(g[1]))]
    lacking: dict[str, list] = {}
    for r, missing in zip(rules, outcome.missing):
        for f in missing:
            lacking.setdefault(f, []).append(r.id)
    rc.missing_fields = [{"field": f, "rules": ids}
                         for f, ids in sorted(lacking.items(), key=lambda x: (-len(x[1]), x[0]))]
    return rc
