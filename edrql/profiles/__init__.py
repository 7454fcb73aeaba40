"""Vendor profiles: which raw fields mean what.

A profile is a module-level object with ``name``, ``vendor``, ``detect(columns)``
(a score; 0 means "not mine"), ``normalize(raw, ctx) -> Normalized`` and
``dedup_key`` (raw field names that identify a record, or None: the whole record).
Detection is by content (field names), never by file name.
"""
from __future__ import annotations

from typing import Protocol

import pyarrow as pa

from ..normalize import Ctx, Normalized


class Profile(Protocol):
    name: str
    vendor: str
    dedup_key: list[str] | None

    def detect(self, columns: set[str]) -> int: ...

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized: ...


def registry() -> list[Profile]:
    from . import crowdstrike, ecs, mde, proxy, winevent
    return [mde.PROFILE, winevent.PROFILE, crowdstrike.PROFILE, ecs.PROFILE, *proxy.PROFILES]


def detect(columns: set[str]) -> Profile | None:
    scored = [(p.detect(columns), i, p) for i, p in enumerate(registry())]
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return None
    return max(scored, key=lambda s: (s[0], -s[1]))[2]
