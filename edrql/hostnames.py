"""Host names: one rule for when two spellings name the same machine.

Exports spell a host differently: Defender writes ``pc-sales-07.corp.example``,
Sysmon ``PC-SALES-07``, an analyst types ``pc-sales-07``. The rule, everywhere a
host is compared (``==``, ``!=``, ``=~``, ``!~``, ``in``, ``!in``, ``tree(host=…)``,
``children(host=…)``, ``ancestors(host=…)``, grouping by host, the REPL):

* case never matters: ``PC-SALES-07`` is ``pc-sales-07``;
* a **short name** (no dot) names the machine whatever its domain: ``pc-sales-07``
  is ``pc-sales-07.corp.example`` and ``pc-sales-07.other.tld``;
* two **full names** (with a dot) are the same host only when they are equal:
  ``pc-sales-07.corp.example`` is not ``pc-sales-07.other.tld`` (same short name,
  different domains: different machines as far as the data can tell);
* a full name also takes the bare ``PC-SALES-07`` that a domain-less export wrote,
  unless the data holds that short name under another domain too (then the bare
  spelling could be either machine, and only the short name matches it);
* an address (``10.1.2.3``, ``fe80::1``) is only ever equal to itself.

The relation is not transitive (a short name matches two full names that do not
match each other), so grouping merges a short name into a full name only when
exactly one full name in the data has that short name.

All of it runs on the distinct host values of a column (vectorized Arrow), then
spreads to the rows through the codes.
"""
from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .names import did_you_mean

#: a stored value that is an address, not a name (IPv4 dotted quad, or anything with ':')
_ADDRESS_RE = r"^([0-9]+\.){3}[0-9]+$|:"


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def short_name(name: str) -> str:
    """The first label, lower-cased (the whole name for an address)."""
    n = name.lower()
    return n if is_address(n) else n.split(".", 1)[0]


def same_host(a: str | None, b: str | None) -> bool:
    """One pair of host names under the rule (for the REPL and other scalar callers); the
    pair alone cannot tell whether a short name is ambiguous in the data."""
    if a is None or b is None:
        return False
    x, y = a.lower(), b.lower()
    if x == y:
        return True
    if is_address(x) or is_address(y):
        return False
    if "." in x and "." in y:
        return False
    return x.split(".", 1)[0] == y.split(".", 1)[0]


def distinct_codes(col) -> tuple[pa.Array, pa.Array]:
    """(distinct values, per-row codes into them; null rows have null codes)."""
    if isinstance(col, pa.ChunkedArray):
        if pa.types.is_dictionary(col.type) and col.num_chunks > 1:
            col = col.unify_dictionaries()
            col = pa.DictionaryArray.from_arrays(
                pa.concat_arrays([c.indices for c in col.chunks]), col.chunk(0).dictionary)
        else:
            col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        d = col.dictionary
        if not pa.types.is_string(d.type):
            d = d.cast(pa.string())
        return d, col.indices
    if not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    enc = pc.dictionary_encode(col)
    return enc.dictionary, enc.indices


def match_values(values: pa.Array, want: str) -> np.ndarray:
    """For each distinct stored value: is it the host ``want`` names? (bool numpy array)"""
    low = pc.utf8_lower(values)
    w = want.lower()
    exact = pc.fill_null(pc.equal(low, w), False)
    if is_address(w):
        return exact.to_numpy(zero_copy_only=False)
    addr = pc.fill_null(pc.match_substring_regex(low, _ADDRESS_RE), False)
    if "." not in w:                               # a short name: any domain
        other = pc.starts_with(low, w + ".")
    else:           # a full name: also the domain-less spelling, unless it is ambiguous here
        sw = w.split(".", 1)[0]
        rivals = pc.and_(pc.and_(pc.fill_null(pc.starts_with(low, sw + "."), False),
                                 pc.invert(exact)), pc.invert(addr))
        if pc.any(rivals).as_py():
            return exact.to_numpy(zero_copy_only=False)
        other = pc.equal(low, sw)
    other = pc.and_(pc.fill_null(other, False), pc.invert(addr))
    return pc.or_(exact, other).to_numpy(zero_copy_only=False)


def note(values: pa.Array, hit: np.ndarray, wants: list, op: str, exact: bool = False) -> str | None:
    """What to tell the analyst about a host comparison: it matched nothing though
    another spelling would have, or a short name matched hosts of several domains."""
    wants = [str(w) for w in wants if w is not None]
    if not wants or len(values) == 0:
        return None
    shown = f"host {op} " + ", ".join(f'"{w}"' for w in wants)
    present = [v for v in values.to_pylist() if v is not None]
    if not hit.any():
        near = []
        for w in wants:
            if exact:                                # === / in_cs: other case, other domain
                near += [v for v in present if same_host(v, w)]
            sw = short_name(w)
            near += [v for v in present if not is_address(v) and short_name(v) == sw]
        near = sorted(set(near))
        if near:
            rule = 'host === compares exactly; == ignores case and domain' if exact else \
                "full names with different domains are different hosts"
            return (f"note: {shown} matched no host; the data has " + ", ".join(near[:5])
                    + ("…" if len(near) > 5 else "") + f" ({rule}; a short name such as "
                    f'"{short_name(wants[0])}" matches every domain)')
        close = did_you_mean(wants[0], present)
        return f"note: {shown} matched no host" + (f"; {close}" if close else "")
    matched = [v for v, h in zip(values.to_pylist(), hit) if h and v is not None]
    if not exact:
        bare = sorted({v for v, h in zip(values.to_pylist(), hit) if not h and v is not None
                       and "." in wants[0] and v.lower() == short_name(wants[0])})
        if bare:
            return (f"note: {shown} left out {', '.join(bare)} (no domain): that short name "
                    f'is in several domains here; host == "{short_name(wants[0])}" includes it')
    domains = {v.lower().split(".", 1)[1] for v in matched if "." in v and not is_address(v)}
    if len(domains) > 1:
        return (f"note: {shown} matched hosts of {len(domains)} domains: "
                + ", ".join(sorted(matched)[:5]) + ("…" if len(matched) > 5 else "")
                + " (a full name picks one)")
    return None


def group_codes(values: pa.Array) -> np.ndarray:
    """A group id per distinct host value: case folded, and a short name folded into the
    full name when exactly one full name in ``values`` has it. Addresses stay apart."""
    low = pc.utf8_lower(values)
    enc = pc.dictionary_encode(low)
    gid = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names = enc.dictionary.to_pylist()               # distinct lower-cased: small
    full_by_short: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        if n is not None and "." in n and not is_address(n):
            full_by_short.setdefault(n.split(".", 1)[0], []).append(i)
    remap = np.arange(len(names), dtype=np.int64)
    for i, n in enumerate(names):
        if n is not None and "." not in n and len(full_by_short.get(n, ())) == 1:
            remap[i] = full_by_short[n][0]
    return remap[gid] if len(gid) else gid


POSITIVE = {"==": False, "=~": False, "in": False, "===": True, "in_cs": True}
NEGATED = {"!=": False, "!~": False, "!in": False, "!==": True, "!in_cs": True}


def compare(col, enc, wants: list, op: str):
    """``host OP wants`` as a row mask under the rule (``===``/``in_cs`` compare exactly),
    and a note for the analyst (or None). ``enc`` is a cached dictionary encoding of the
    column, when there is one."""
    exact = POSITIVE.get(op, NEGATED.get(op))
    values, codes = distinct_codes(enc if enc is not None else col)
    hit = np.zeros(len(values), bool)
    for w in wants:
        if w is None:
            continue
        if exact:
            hit |= pc.fill_null(pc.equal(values, str(w)), False).to_numpy(zero_copy_only=False)
        else:
            hit |= match_values(values, str(w))
    per_value = pa.array(hit if op in POSITIVE else ~hit)
    return pc.take(per_value, codes), note(values, hit, wants, op, exact)
