"""IP addresses in CIDR ranges, vectorised: ``cidr_match(ip, "10.0.0.0/8", …)`` (EQL's
cidrMatch) and KQL's ``ipv4_is_in_range``.

Values are text. IPv4 (dotted quad, no leading zeros, as Python's ipaddress) is read into
32-bit numbers with numpy; an IPv4-mapped IPv6 value (``::ffff:10.1.2.3``) counts as that
IPv4 address. IPv6 text is normalised without a row loop: the ``::`` is expanded with
``binary_repeat``, every group left-padded to four hex digits, and the 32 hex digits are
tested against each range as a prefix (a regular expression for a prefix that ends inside a
hex digit). A value that is no IP address — or null — is in no range (false, as EQL).
"""
from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_V4 = rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"
_MAPPED = rf"^::ffff:({_OCTET}(?:\.{_OCTET}){{3}})$"
_HEX4 = None                                  # "0000" … "ffff", built on first use


def parse_ranges(texts: list[str], fn: str, need_slash: bool = True, v4_only: bool = False):
    """CIDR texts → ip_network objects, or TypeError naming the bad one (index in the list)."""
    nets = []
    for i, t in enumerate(texts):
        t = t.strip()
        try:
            if need_slash and "/" not in t:
                raise ValueError
            net = ipaddress.ip_network(t, strict=False)
            if v4_only and net.version != 4:
                raise ValueError
        except ValueError:
            kind = "an IPv4 range" if v4_only else "a CIDR range"
            err = TypeError(f"{fn}(): {t!r} is not {kind} (e.g. \"10.0.0.0/8\")")
            err.index = i
            raise err from None
        nets.append(net)
    return nets


def _v4_numbers(text: pa.Array):
    """(mask of IPv4 values — mapped IPv6 included, their addresses as uint32 for those rows)."""
    t = pc.replace_substring_regex(pc.utf8_lower(text), _MAPPED, r"\1")
    ok = pc.fill_null(pc.match_substring_regex(t, _V4), False)
    okn = ok.to_numpy(zero_copy_only=False)
    rows = pc.filter(t, ok)
    octets = pc.cast(pc.list_flatten(pc.split_pattern(rows, ".")), pa.uint32())
    o = octets.to_numpy(zero_copy_only=False).reshape(-1, 4).astype(np.uint32)
    nums = (o[:, 0] << 24) | (o[:, 1] << 16) | (o[:, 2] << 8) | o[:, 3]
    return okn, nums


def _hex4():
    global _HEX4
    if _HEX4 is None:
        _HEX4 = pa.array([f"{i:04x}" for i in range(65536)], pa.string())
    return _HEX4


def _v6_hex(text: pa.Array):
    """(mask of IPv6 values, their 32 hex digits as text for those rows)."""
    t = pc.replace_substring_regex(pc.utf8_lower(text), r"%.*$", "")        # zone id
    t = pc.if_else(pc.match_substring(t, ":"), t, pa.scalar(None, pa.string()))
    # a dotted IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) → two hex groups
    tail = pc.extract_regex(t, rf"^(?P<h>.*:)(?P<a>{_OCTET})\.(?P<b>{_OCTET})\."
                               rf"(?P<c>{_OCTET})\.(?P<d>{_OCTET})$")
    has_tail = pc.fill_null(pc.is_valid(tail), False)
    if pc.any(has_tail).as_py():
        part = {k: pc.cast(pc.fill_null(pc.struct_field(tail, k), "0"), pa.int64())
                for k in "abcd"}
        hi = pc.take(_hex4(), pc.add(pc.multiply(part["a"], 256), part["b"]))
        lo = pc.take(_hex4(), pc.add(pc.multiply(part["c"], 256), part["d"]))
        joined = pc.binary_join_element_wise(pc.struct_field(tail, "h"), hi, ":", lo, "")
        t = pc.if_else(has_tail, joined, t)
    doubles = pc.count_substring(t, "::")
    halves = pc.split_pattern(t, "::", max_splits=1)
    head = pc.list_element(halves, 0)
    rest = pc.if_else(pc.equal(pc.list_value_length(halves), 2),
                      pc.list_slice(halves, 1, 2), pa.scalar([""], pa.list_(pa.string())))
    back = pc.list_element(rest, 0)

    def groups(s):
        return pc.if_else(pc.equal(s, ""), 0, pc.add(pc.count_substring(s, ":"), 1))
    missing = pc.subtract(8, pc.add(groups(head), groups(back)))
    mid = pc.binary_repeat(":0", pc.max_element_wise(missing, 0))
    expanded = pc.utf8_trim(pc.binary_join_element_wise(head, mid, ":", back, ""), ":")
    full = pc.if_else(pc.equal(doubles, 1), expanded, t)
    well = pc.match_substring_regex(full, r"^(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}$")
    ok = pc.and_(well, pc.or_(pc.equal(doubles, 0),
                              pc.and_(pc.equal(doubles, 1), pc.greater_equal(missing, 1))))
    ok = pc.fill_null(ok, False)
    rows = pc.filter(full, ok)
    parts = pc.split_pattern(rows, ":")
    padded = pc.utf8_lpad(pc.list_flatten(parts), 4, "0")
    lists = pa.ListArray.from_arrays(parts.offsets, padded)
    return ok.to_numpy(zero_copy_only=False), pc.binary_join(lists, "")


def _v6_test(hexes: pa.Array, net) -> pa.Array:
    full = f"{int(net.network_address):032x}"
    whole, rem = divmod(net.prefixlen, 4)
    if not rem:
        return pc.starts_with(hexes, full[:whole])
    mask = (0xF << (4 - rem)) & 0xF
    want = int(full[whole], 16) & mask
    digits = "".join(f"{d:x}" for d in range(16) if d & mask == want)
    return pc.match_substring_regex(hexes, f"^{full[:whole]}[{digits}]")


def in_ranges(values, nets) -> pa.Array:
    """True where the text value is an address in one of the networks; false elsewhere.
    Many rows with repeating values: tested on the distinct values, spread by their codes."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    # (encoding 2M distinct addresses costs more than testing them: a sample decides)
    if len(values) >= 50_000 and \
            pc.count_distinct(values.slice(0, 100_000)).as_py() < min(len(values), 100_000) // 2:
        enc = pc.dictionary_encode(values)
        if len(enc.dictionary) <= len(values) // 2:
            return pc.fill_null(pc.take(_in_ranges(enc.dictionary, nets), enc.indices), False)
    return _in_ranges(values, nets)


def _in_ranges(values, nets) -> pa.Array:
    n = len(values)
    out = np.zeros(n, bool)
    v4 = [x for x in nets if x.version == 4]
    v6 = [x for x in nets if x.version == 6]
    if v4:
        ok, nums = _v4_numbers(values)
        hit = np.zeros(len(nums), bool)
        for net in v4:                                   # a loop over ranges, not rows
            m = np.uint32((0xFFFFFFFF << (32 - net.prefixlen)) & 0xFFFFFFFF)
            hit |= (nums & m) == np.uint32(int(net.network_address) & int(m))
        out[np.nonzero(ok)[0][hit]] = True
    if v6:
        colon = pc.fill_null(pc.match_substring(values, ":"), False)
        where = np.nonzero(colon.to_numpy(zero_copy_only=False))[0]      # IPv6 text only
        ok, hexes = _v6_hex(pc.filter(values, colon))
        hit = None
        for net in v6:
            m = _v6_test(hexes, net)
            hit = m if hit is None else pc.or_(hit, m)
        if hit is not None and len(hit):
            out[where[np.nonzero(ok)[0][hit.to_numpy(zero_copy_only=False)]]] = True
    return pa.array(out, pa.bool_())
