"""Sigma logsources → the rows of an events table they cover.

A Sigma rule names a logsource (``category``, ``product``, ``service``); each given
part must hold for a row (they are ANDed), as every Sigma backend reads them.

* ``product`` is decided per row from what the data says (see :func:`row_products`):
  a raw OS field (CrowdStrike ``event_platform``, ECS ``host.os.type`` / ``.family`` /
  ``.platform``, Defender ``OSPlatform``), else Windows for every Windows event log row
  (Linux when its image is a ``/…`` path: Sysmon for Linux),
  else the shape of the row's paths (``C:\\…``, ``\\Device\\…`` or any backslash: windows;
  ``/Applications/``, ``/System/``, ``/Library/``, ``/Users/``, ``/private/``: macos;
  another absolute ``/…`` path: linux), else what the other rows of the same host say
  (the host's most common decision), else the one product every decided row of the data
  has, else Windows for Defender rows (Advanced Hunting's default platform). Proxy and
  web-server rows have no product.
* ``service`` for Windows is the event log channel (``raw.System.Channel`` and its
  other spellings), through pySigma's own service → channel table
  (``sigma.pipelines.common.windows_logsource_mapping``); ``sysmon`` is the Sysmon
  channel. Rows without a channel but from a Security-only export (Sentinel
  ``SecurityEvent``, which the winevent profile reads as Security) are Security rows.
* ``category``: on Sysmon rows by the Sysmon EventID (the table ``SYSMON_EVENT_IDS``,
  as pySigma's Sysmon pipeline maps them); on every other row by edrql's normalized
  ``event`` (``CATEGORY_EVENTS``) or the vendor's own ``action`` for what edrql stores as
  ``event = other`` (``CATEGORY_ACTIONS``: Defender's NamedPipeEvent,
  OpenProcessApiCall…). The PowerShell categories (``ps_script`` …) are the channel
  and EventID of pySigma's Windows pipeline (``windows_generic_category_channel_mapping``).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..profiles.winevent import canon
from ..schema import RAW_PREFIX

try:  # the Windows pipeline's tables are data we reuse, not retype
    from sigma.pipelines.common import windows_logsource_mapping as _WIN_SERVICES
    from sigma.pipelines.windows.windows import windows_generic_category_channel_mapping as _PS_CATS
except ImportError:  # pragma: no cover - pysigma-pipeline-windows is a dependency
    _WIN_SERVICES, _PS_CATS = {}, {}

WINDOWS_VENDOR = "Windows Event Log"
MDE_VENDOR = "Microsoft Defender for Endpoint"

#: Sigma category → the Sysmon EventIDs it covers (on Sysmon rows).
SYSMON_EVENT_IDS: dict[str, tuple[int, ...]] = {
    "process_creation": (1,), "file_change": (2,), "network_connection": (3,),
    "sysmon_status": (4, 16), "process_termination": (5,), "driver_load": (6,),
    "image_load": (7,), "create_remote_thread": (8,), "raw_access_thread": (9,),
    "process_access": (10,), "file_event": (11,), "registry_add": (12,),
    "registry_delete": (12,), "registry_set": (13,), "registry_rename": (14,),
    "registry_event": (12, 13, 14), "create_stream_hash": (15,), "pipe_created": (17, 18),
    "wmi_event": (19, 20, 21), "dns_query": (22,), "file_delete": (23, 26),
    "file_delete_detected": (26,), "clipboard_capture": (24,), "process_tampering": (25,),
    "file_block_executable": (27,), "file_block_shredding": (28,), "file_block": (27, 28),
    "file_executable_detected": (29,), "sysmon_error": (255,),
}

#: Sigma category → edrql ``event`` values (on rows that are not Sysmon).
CATEGORY_EVENTS: dict[str, tuple[str, ...]] = {
    "process_creation": ("process_start",), "process_termination": ("process_end",),
    "file_event": ("file_create",), "file_change": ("file_modify",),
    "file_delete": ("file_delete",), "file_rename": ("file_rename",),
    "registry_add": ("registry_create",), "registry_set": ("registry_set",),
    "registry_delete": ("registry_delete",),
    "registry_event": ("registry_create", "registry_set", "registry_delete"),
    "network_connection": ("network_connect", "network_accept"),
    "dns_query": ("dns_query",), "dns": ("dns_query",),
    "image_load": ("image_load",), "proxy": ("http",), "webserver": ("http",),
}

#: Sigma category → (vendor, action) pairs for what edrql keeps as the vendor's own action.
CATEGORY_ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "pipe_created": (("Microsoft Defender for Endpoint", "NamedPipeEvent"),),
    "process_access": (("Microsoft Defender for Endpoint", "OpenProcessApiCall"),),
    "create_remote_thread": (("Microsoft Defender for Endpoint", "CreateRemoteThreadApiCall"),
                             ("CrowdStrike Falcon", "InjectedThread")),
    "antivirus": (("Microsoft Defender for Endpoint", "AntivirusDetection"),),
    "driver_load": (("Microsoft Defender for Endpoint", "DriverLoad"),
                    ("CrowdStrike Falcon", "DriverLoad")),
}
#: Sigma category → (Windows service, EventIDs) of the channel that logs it
CHANNEL_CATEGORIES: dict[str, tuple[str, tuple[int, ...]]] = {
    # Defender Antivirus: malware found / suspicious behaviour / detected / action taken
    "antivirus": ("windefend", (1006, 1015, 1116, 1117)),
}
#: rows edrql files under an ``event`` a Sigma category must not take them from.
EXCLUDED_ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "image_load": (("CrowdStrike Falcon", "DriverLoad"),),
}

#: what a category's rows are, for why_none()
CATEGORY_NOUNS: dict[str, str] = {
    "process_creation": "process creation events", "process_termination": "process end events",
    "file_event": "file creation events", "file_change": "file time-change events",
    "file_delete": "file deletion events", "file_rename": "file rename events",
    "file_access": "file access events", "registry_add": "registry events",
    "registry_set": "registry events", "registry_delete": "registry events",
    "registry_rename": "registry events", "registry_event": "registry events",
    "network_connection": "network connection events", "dns_query": "DNS query events",
    "dns": "DNS query events", "image_load": "image (DLL) load events",
    "proxy": "proxy (HTTP) logs", "webserver": "web server logs",
    "antivirus": "antivirus detections (Defender 1006/1015/1116/1117, AntivirusDetection)",
    "pipe_created": "named pipe events", "process_access": "process access events",
    "create_remote_thread": "remote thread events", "driver_load": "driver load events",
    "raw_access_thread": "raw disk access events", "process_tampering": "process tampering events",
    "wmi_event": "WMI subscription events", "clipboard_capture": "clipboard capture events",
    "sysmon_status": "Sysmon service status events", "sysmon_error": "Sysmon error events",
    "create_stream_hash": "alternate data stream events", "ps_script": "PowerShell script block (4104) events",
    "ps_module": "PowerShell module (4103) events", "ps_classic_start": "Windows PowerShell engine start (400) events",
    "ps_classic_provider_start": "Windows PowerShell provider start (600) events",
    "ps_classic_script": "Windows PowerShell pipeline (800) events",
}

PRODUCT_NAMES = {"windows": "Windows", "linux": "Linux", "macos": "macOS", "aws": "AWS",
                 "azure": "Azure", "gcp": "Google Cloud", "m365": "Microsoft 365", "okta": "Okta"}

_CHANNEL = ("System.Channel", "Channel", "winlog.channel", "log_name")
_PROVIDER = ("System.Provider.Name", "SourceName", "winlog.provider_name", "source_name",
             "EventSourceName")
_EVENT_ID = ("System.EventID", "EventID", "winlog.event_id", "event_id")
_OS_FIELDS = ("event_platform", "host.os.type", "host.os.family", "host.os.platform", "OSPlatform",
              "os.type", "os.platform")
_OS_WORDS = [("windows", r"^win"), ("linux", r"^(lin|ubuntu|debian|centos|rhel|redhat|suse|fedora)"),
             ("macos", r"^(mac|darwin|osx)")]
_PATH_COLUMNS = ("image", "path", "pimage")
_MAC_PATH = r"^/(Applications|System|Library|Users|private|Volumes)/"


def one_chunk(c):
    """A ChunkedArray as one Array (the chunk itself when there is one: no copy)."""
    if not isinstance(c, pa.ChunkedArray):
        return c
    if c.num_chunks == 1:
        return c.chunk(0)
    return c.combine_chunks()


def _column(table: pa.Table, name: str) -> pa.Array:
    c = table.column(name)
    a = one_chunk(c)
    if pa.types.is_dictionary(a.type):
        a = a.cast(a.type.value_type)
    return a


def raw_names(table: pa.Table) -> dict[str, list[str]]:
    """canonical (lower-case, prefix-blind) raw field name → the ``raw.*`` columns holding it."""
    idx: dict[str, list[str]] = {}
    for name in table.column_names:
        if name.startswith(RAW_PREFIX):
            idx.setdefault(canon(name[len(RAW_PREFIX):]), []).append(name)
    return idx


def raw_value(table: pa.Table, idx: dict[str, list[str]], *aliases: str) -> pa.Array | None:
    """The first non-null of the raw columns spelling any of ``aliases`` (None: no such column)."""
    cols = [_column(table, n) for a in aliases for n in idx.get(canon(a), [])]
    if not cols:
        return None
    cols = [c if pa.types.is_string(c.type) or pa.types.is_large_string(c.type) else c.cast(pa.string())
            for c in cols]
    return cols[0] if len(cols) == 1 else pc.coalesce(*cols)


def _np(mask) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _matches(arr: pa.Array | None, n: int, pattern: str) -> np.ndarray:
    """Rows whose text matches; the pattern runs over the distinct values of a long column."""
    if arr is None:
        return np.zeros(n, dtype=bool)
    arr = one_chunk(arr)
    if n < 4096 or pa.types.is_dictionary(arr.type):
        if pa.types.is_dictionary(arr.type):
            hit = _np(pc.match_substring_regex(arr.dictionary, pattern, ignore_case=True))
            codes = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False)
            return np.append(hit, False)[codes] if len(hit) else np.zeros(n, dtype=bool)
        return _np(pc.match_substring_regex(arr, pattern, ignore_case=True))
    return _matches(pc.dictionary_encode(arr), n, pattern)


def _is_in(arr: pa.Array, values) -> np.ndarray:
    return _np(pc.is_in(arr, value_set=pa.array(list(values), arr.type)))


class _Codes:
    """A text column as dictionary codes: masks of "value in (…)" cost one pass of numpy."""

    def __init__(self, arr: pa.Array):
        enc = pc.dictionary_encode(arr)
        self.values = enc.dictionary
        self.codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def mask(self, values) -> np.ndarray:
        hit = np.flatnonzero(_is_in(self.values, values))
        if not len(hit):
            return np.zeros(len(self.codes), dtype=bool)
        if len(hit) == 1:
            return self.codes == hit[0]
        return np.isin(self.codes, hit)


class Coverage:
    """Per-row facts of an events table that logsources are decided on (computed once)."""

    def __init__(self, table: pa.Table):
        self.table = table
        n = self.n = table.num_rows
        self.raw = raw_names(table)
        names = set(table.column_names)

        def norm(name: str) -> pa.Array:
            return _column(table, name) if name in names else pa.nulls(n, pa.string())

        self.event = norm("event")
        self.action = norm("action")
        self.vendor = norm("vendor")
        self.host = norm("host")
        self.windows_log = _np(pc.equal(self.vendor, WINDOWS_VENDOR))
        channel = raw_value(table, self.raw, *_CHANNEL)
        provider = raw_value(table, self.raw, *_PROVIDER)
        self.channel = pc.utf8_lower(channel) if channel is not None else pa.nulls(n, pa.string())
        self.sysmon = self.windows_log & (_matches(channel, n, "sysmon") | _matches(provider, n, "sysmon"))
        eid_text = raw_value(table, self.raw, *_EVENT_ID)
        if eid_text is None:
            eid_text = self.action
        eids = _Codes(eid_text)                       # parsed once per distinct text
        ok = _np(pc.match_substring_regex(eids.values, r"^\s*\d{1,18}\s*$"))
        num = pc.cast(pc.if_else(ok, pc.utf8_trim_whitespace(eids.values), pa.scalar(None, pa.string())),
                      pa.int64())
        num = np.append(np.asarray(pc.fill_null(num, -1).to_numpy(zero_copy_only=False), dtype=np.int64), -1)
        self.eid = num[eids.codes]
        no_source = _np(pc.is_null(self.channel))
        if provider is not None:
            no_source &= _np(pc.is_null(provider))
        self.security = self.windows_log & (
            _np(pc.equal(self.channel, "security"))
            | _matches(provider, n, r"^microsoft-windows-security-auditing$")
            | (no_source & ~self.sysmon & np.isin(self.eid, (4688, 4689, 5156))))
        self.products = row_products(self)
        self._event_c, self._chan_c = _Codes(self.event), _Codes(self.channel)
        self._provider_c = _Codes(pc.utf8_lower(provider) if provider is not None else pa.nulls(n, pa.string()))
        self._forwarded = self._chan_c.mask(["forwardedevents"])
        self._vendor_c, self._action_c = _Codes(self.vendor), _Codes(self.action)
        self._memo: dict[tuple, np.ndarray | None] = {}

    def _cached(self, key: tuple, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def channels(self, chans) -> np.ndarray:
        """Rows of these channels; rows collected by event forwarding (channel ForwardedEvents)
        by their provider, named as the channel before its "/" (Microsoft-Windows-X/Operational
        is written by Microsoft-Windows-X)."""
        m = self._chan_c.mask([c.lower() for c in chans])
        if self._forwarded.any():
            m |= self._forwarded & self._provider_c.mask([c.split("/")[0].lower() for c in chans])
        return m

    def _vendor_action(self, pairs) -> np.ndarray:
        m = np.zeros(self.n, dtype=bool)
        for v, a in pairs:
            m |= self._vendor_c.mask([v]) & self._action_c.mask([a])
        return m

    # ------------------------------------------------------------------ parts
    def product_mask(self, product: str | None) -> np.ndarray:
        if not product:
            return np.ones(self.n, dtype=bool)
        return self._cached(("p", product.lower()), lambda: self.products == product.lower())

    def service_mask(self, product: str | None, service: str | None) -> np.ndarray | None:
        """Rows of the service; None when edrql knows no channel for it."""
        if not service:
            return np.ones(self.n, dtype=bool)
        s = service.lower()
        if (product or "windows").lower() != "windows":
            return None
        if s == "security":
            return self.security
        if s == "sysmon":
            return self.sysmon
        chans = service_channels(s)
        if not chans:
            return None
        return self._cached(("s", s), lambda: self.channels(chans))

    def category_mask(self, category: str | None) -> np.ndarray | None:
        """Rows of the category; None when edrql maps no vendor's events onto it."""
        if not category:
            return np.ones(self.n, dtype=bool)
        c = category.lower()
        if c in _PS_CATS:
            info = _PS_CATS[c]
            chans = [x.lower() for x in service_channels(info["service"])]
            return self._cached(("c", c), lambda: self.windows_log & self.channels(chans)
                                & (self.eid == int(info["EventID"])))
        known = c in SYSMON_EVENT_IDS or c in CATEGORY_EVENTS or c in CATEGORY_ACTIONS \
            or c in CHANNEL_CATEGORIES
        if not known:
            return None
        return self._cached(("c", c), lambda: self._category(c))

    def _category(self, c: str) -> np.ndarray:
        m = np.zeros(self.n, dtype=bool)
        if c in SYSMON_EVENT_IDS:
            m |= self.sysmon & np.isin(self.eid, SYSMON_EVENT_IDS[c])
        other = ~self.sysmon
        if c in CATEGORY_EVENTS:
            m |= other & self._event_c.mask(CATEGORY_EVENTS[c])
        if c in CATEGORY_ACTIONS:
            m |= other & self._vendor_action(CATEGORY_ACTIONS[c])
        if c in CHANNEL_CATEGORIES:
            service, eids = CHANNEL_CATEGORIES[c]
            m |= self.windows_log & self.channels(service_channels(service)) & np.isin(self.eid, eids)
        if c in EXCLUDED_ACTIONS:
            m &= ~self._vendor_action(EXCLUDED_ACTIONS[c])
        return m

    # ------------------------------------------------------------------ whole
    def mask(self, category: str | None, product: str | None, service: str | None) -> np.ndarray:
        cm = self.category_mask(category)
        sm = self.service_mask(product, service)
        if cm is None or sm is None:
            return np.zeros(self.n, dtype=bool)
        return cm & sm & self.product_mask(product)

    def why_none(self, category: str | None, product: str | None, service: str | None) -> str:
        pm = self.product_mask(product)
        pname = PRODUCT_NAMES.get((product or "").lower(), product or "")
        if product and not pm.any():
            return f"no {pname} events in this data"
        if service:
            sm = self.service_mask(product, service)
            if sm is None and (product or "windows").lower() != "windows":
                return f"no {pname} {service} logs in this data (edrql maps no source onto them)"
            if sm is None:
                return f"edrql knows no Windows event log channel for Sigma service {service!r}"
            if not (sm & pm).any():
                chans = {"security": ["Security"], "sysmon": ["Sysmon"]}.get(service.lower()) \
                    or service_channels(service.lower())
                return f"no Windows {' / '.join(chans)} channel events in this data"
        if category:
            cm = self.category_mask(category)
            if cm is None:
                return f"edrql maps no vendor's events onto Sigma category {category!r}"
            noun = CATEGORY_NOUNS.get(category.lower(), f"{category} events")
            if not cm.any():
                return f"you exported no {noun}"
            if not (cm & pm).any():
                return f"you exported no {noun} from {pname} hosts"
        if not self.n:
            return "this data holds no events"
        return "no events of this logsource in this data"


def service_channels(service: str) -> list[str]:
    """The Windows channel names of a Sigma service (pySigma's table); [] when unknown."""
    v = _WIN_SERVICES.get(service.lower())
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def row_products(cov: Coverage) -> np.ndarray:
    """Per row: "windows" | "linux" | "macos" | "" (undecided), as the module docstring says."""
    n, t = cov.n, cov.table
    out = np.full(n, "", dtype="<U7")         # fixed width: comparisons in C, not per row
    undecided = np.ones(n, dtype=bool)
    os_text = raw_value(t, cov.raw, *_OS_FIELDS)
    if os_text is not None:
        for prod, pattern in _OS_WORDS:
            hit = undecided & _matches(pc.utf8_trim_whitespace(os_text), n, pattern)
            out[hit] = prod
            undecided &= ~hit
    names = set(t.column_names)
    if cov.windows_log.any() and "image" in names:   # Sysmon for Linux: the event log shape, Linux paths
        lin = undecided & cov.windows_log & _matches(one_chunk(t.column("image")), n, r"^/")
        out[lin] = "linux"
        undecided &= ~lin
    hit = undecided & cov.windows_log
    out[hit] = "windows"
    undecided &= ~hit
    for name in _PATH_COLUMNS:
        if name not in names or not undecided.any():
            continue
        p = one_chunk(t.column(name))         # a dictionary stays one: _matches reads its values
        if not pa.types.is_dictionary(p.type) and n >= 4096:
            p = pc.dictionary_encode(p)       # once for the three patterns below
        win = undecided & _matches(p, n, r"^([a-z]:\\|\\\\|\\)|\\")
        out[win] = "windows"
        undecided &= ~win
        mac = undecided & _matches(p, n, _MAC_PATH)
        out[mac] = "macos"
        undecided &= ~mac
        lin = undecided & _matches(p, n, r"^/")
        out[lin] = "linux"
        undecided &= ~lin
    http = _np(pc.equal(cov.event, "http"))
    undecided &= ~http
    if undecided.any() and (~undecided & ~http).any():
        _fill_by_host(cov.host, out, undecided, http)
        undecided &= out == ""
    if undecided.any():   # one product in the whole data: the rest are of it too
        seen = set(out[~undecided & ~http].tolist()) - {""}
        if len(seen) == 1:
            out[undecided] = seen.pop()
            undecided[:] = False
    if undecided.any():   # Defender's Advanced Hunting is a Windows product unless a path says not
        mde = undecided & _np(pc.equal(cov.vendor, MDE_VENDOR))
        out[mde] = "windows"
    return out


def _fill_by_host(host: pa.Array, out: np.ndarray, undecided: np.ndarray, http: np.ndarray) -> None:
    """Undecided rows take their host's most common decided product (vectorised over codes)."""
    enc = pc.dictionary_encode(host).combine_chunks() if isinstance(host, pa.ChunkedArray) \
        else pc.dictionary_encode(host)
    codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    nh = len(enc.dictionary)
    if not nh:
        return
    prods = np.array(["windows", "linux", "macos"], dtype="<U7")
    decided = ~undecided & ~http & (codes >= 0)
    counts = np.zeros((nh, 3), dtype=np.int64)
    for j, p in enumerate(prods):
        sel = decided & (out == p)
        counts[:, j] = np.bincount(codes[sel], minlength=nh)
    best = prods[counts.argmax(axis=1)]
    has = counts.sum(axis=1) > 0
    take = undecided & (codes >= 0)
    take[take] = has[codes[take]]
    out[take] = best[codes[take]]
