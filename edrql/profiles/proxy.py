"""Proxy and network-sensor logs: Squid, Zeek, W3C extended (ProxySG, IIS), Zscaler
NSS web, and CEF rows as Microsoft Sentinel's CommonSecurityLog stores them.

A proxy or a network sensor knows addresses, not the endpoint's name: ``host``
stays null (except where the log names the client device: Zscaler
``devicehostname``, CEF ``shost``) and ``laddr``/``lport`` carry the client side,
``raddr``/``rport`` the server side. Every profile here has ``is_proxy = True``:
its rows carry no endpoint process (correlation attributes them).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import (Ctx, Normalized, blank_to_null, col, envelope_view, lookup, nulls,
                         parse_time, pick, to_int)
from ..values import clean_iso, epoch_auto, epoch_to_ts, join_skip, proto_name

_URL = r"^(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^/:?#\s]+)(?::(?P<port>\d+))?"
_NULL_S = pa.scalar(None, pa.string())


def url_parts(url: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(scheme, host, port) of URLs or CONNECT ``host:port`` targets."""
    m = pc.extract_regex(url, _URL)
    host = blank_to_null(pc.struct_field(m, "host"))
    host = pc.replace_substring_regex(host, r"^\[(.*)\]$", r"\1")
    return (blank_to_null(pc.struct_field(m, "scheme")), host,
            to_int(blank_to_null(pc.struct_field(m, "port"))))


def _const(n: int, value) -> pa.Array:
    return pa.array([value] * n, pa.string()) if n else nulls(0)


def _is(arr: pa.Array, *values: str) -> pa.Array:
    """Case-insensitive membership, null → False."""
    return pc.fill_null(pc.is_in(pc.utf8_lower(arr), value_set=pa.array([v.lower() for v in values])),
                        False)


def _none_to_null(arr: pa.Array) -> pa.Array:
    """Zscaler/CEF write ``None`` (and ``NA``) for "no value"."""
    return pc.if_else(_is(arr, "none", "na", "n/a"), _NULL_S, arr)


def _port_suffix(port: pa.Array, default: pa.Array) -> pa.Array:
    """``:port`` unless the port is null or the scheme's default."""
    show = pc.fill_null(pc.not_equal(port, default), True)
    txt = pc.binary_join_element_wise(pa.scalar(":"), pc.cast(port, pa.string()), "")
    return pc.if_else(pc.and_(show, pc.is_valid(port)), txt, pa.scalar("", pa.string()))


def _bracket_v6(addr: pa.Array) -> pa.Array:
    v6 = pc.fill_null(pc.match_substring(addr, ":"), False)
    return pc.if_else(v6, pc.binary_join_element_wise(pa.scalar("["), addr, pa.scalar("]"), ""), addr)


def _default_port(scheme: pa.Array) -> pa.Array:
    s = pc.utf8_lower(pc.fill_null(scheme, ""))
    return pc.if_else(pc.equal(s, "https"), 443,
                      pc.if_else(pc.equal(s, "ftp"), 21, pc.if_else(pc.equal(s, "http"), 80,
                                                                     pa.scalar(None, pa.int64()))))


# ====================================================================== Squid
class _Squid:
    name = "squid"
    vendor = "Squid"
    dedup_key = None
    is_proxy = True

    def detect(self, columns: set[str]) -> int:
        return 20 if {"remotehost", "code", "peerstatus", "peerhost"} <= columns else 0

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        n = raw.num_rows
        url = col(raw, "url")
        scheme, host, port = url_parts(url)
        default_port = pc.if_else(pc.equal(pc.fill_null(scheme, ""), "https"), 443, 80)
        peer = col(raw, "peerhost")
        peer_is_ip = pc.fill_null(pc.match_substring_regex(peer, r"^[0-9a-fA-F:.]+$"), False)
        out = {
            "ts": epoch_to_ts(col(raw, "time"), "s"),
            "event": _const(n, "http"),
            "action": col(raw, "code"),
            "laddr": col(raw, "remotehost"),
            "raddr": pick(peer_is_ip, peer, nulls(n)),
            "rport": pc.coalesce(port, default_port),
            "domain": host,
            "url": url,
            "http_method": col(raw, "method"),
            "http_status": to_int(col(raw, "status")),
            "outcome": col(raw, "code"),
            "user": col(raw, "rfc931"),
            "proto": _const(n, "tcp"),
            "bytes_in": to_int(col(raw, "bytes")),
        }
        return Normalized(out, "epoch seconds (UTC by definition)")


SQUID = _Squid()


# ====================================================================== Zeek
#: Zeek log path → normalized event.
ZEEK_EVENTS = {"http": "http", "conn": "network_connect", "dns": "dns_query", "ssl": "network_connect"}


def _zcols(columns: set[str]) -> set[str]:
    """RockNSM spells ``id.orig_h`` as ``id_orig_h``: one spelling for detection."""
    return {c.replace("id_orig_", "id.orig_").replace("id_resp_", "id.resp_") for c in columns}


def zeek_kinds(columns: set[str]) -> set[str]:
    """Which Zeek logs a column set (a file's union of fields) looks like."""
    c = _zcols(columns)
    if "ts" not in c or not ({"uid", "fuid", "_path", "@stream", "id.orig_h"} & c
                             or {"fingerprint", "certificate.serial"} <= c
                             or {"certificate_serial", "fingerprint"} <= c):
        return set()
    kinds = set()
    if {"uid", "trans_depth"} <= c and ({"method", "uri", "status_code", "response_body_len"} & c) \
            and not ({"call_id", "request_from"} & c):
        kinds.add("http")
    if {"uid", "conn_state"} <= c:
        kinds.add("conn")
    if {"uid", "trans_id"} <= c and ({"query", "qtype", "rcode", "rejected"} & c):
        kinds.add("dns")
    if {"uid", "established"} <= c and ({"cipher", "server_name", "resumed"} & c):
        kinds.add("ssl")
    return kinds or {"other"}


def _zeek_ts(arr: pa.Array, ctx: Ctx) -> tuple[pa.Array, str]:
    """Zeek ``ts``: epoch seconds with µs (TSV, default JSON) or ISO-8601 (JSON with
    ``json_timestamps = JSON::TS_ISO8601``)."""
    num = pc.fill_null(pc.match_substring_regex(arr, r"^\s*\d+(\.\d*)?\s*$"), False)
    ep = epoch_to_ts(pc.if_else(num, arr, _NULL_S), "s")
    if pc.all(pc.or_(num, pc.is_null(arr))).as_py():
        return ep, "epoch seconds (UTC by definition)"
    iso, why = parse_time(clean_iso(pc.if_else(num, _NULL_S, arr)), ctx)
    return pc.coalesce(ep, iso), "epoch seconds UTC by definition; " + why


def _json_list_text(arr: pa.Array) -> pa.Array:
    """``["a","b"]`` (a JSON list as the JSON reader keeps it) → ``a,b`` like Zeek TSV sets."""
    if len(arr) == 0 or arr.null_count == len(arr):
        return arr
    is_list = pc.fill_null(pc.starts_with(arr, "["), False)
    if not pc.any(is_list).as_py():
        return arr
    t = pc.replace_substring_regex(arr, r"^\[\s*|\s*\]$", "")
    t = pc.replace_substring_regex(t, r'"\s*,\s*"', ",")
    t = pc.replace_substring_regex(t, r'^"|"$', "")
    return blank_to_null(pc.if_else(is_list, t, arr))


class _Zeek:
    """One Zeek log type (or ``other``). Rows are normalized by their own log type —
    the ``_path``/``@stream`` value when the row has one, else the fields it carries —
    so a JSON stream that mixes logs is still right row by row."""

    vendor = "Zeek"
    is_proxy = True
    dedup_key = None

    def __init__(self, kind: str):
        self.kind = kind
        self.name = "zeek" if kind == "other" else f"zeek_{kind}"

    def detect(self, columns: set[str]) -> int:
        kinds = zeek_kinds(columns)
        if not kinds:
            return 0
        if self.kind == "other":
            return 8
        if self.kind not in kinds:
            return 0
        return 30 + (len(kinds) == 1) * 5 + {"http": 4, "conn": 3, "dns": 2, "ssl": 1}[self.kind]

    def dedup_key_for(self, columns: set[str]) -> list[str] | None:
        """The record's identity within its log type (each type is its own profile,
        so the path is implied): ``uid`` plus what tells its transactions apart —
        ``trans_depth`` for HTTP, ``trans_id`` and ``ts`` for DNS (a retransmitted
        query keeps its id), ``ts`` for SSL. The same records in TSV and JSON then
        dedup against each other. A file mixing log types, or the other logs, has
        none: the whole record is the key."""
        kinds = zeek_kinds(columns)
        if len(kinds) != 1 or self.kind not in kinds or self.kind == "other":
            return None
        extra = {"http": ["trans_depth"], "conn": [], "dns": ["trans_id", "ts"], "ssl": ["ts"]}[self.kind]
        return ["uid"] + extra

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        n = raw.num_rows

        def z(*names: str) -> pa.Array:
            alts = []
            for nm in names:
                alts += [nm, nm.replace("id.orig_", "id_orig_").replace("id.resp_", "id_resp_")]
            return col(raw, *dict.fromkeys(alts))

        kind = self._row_kinds(raw, z)
        is_http, is_conn = pc.equal(kind, "http"), pc.equal(kind, "conn")
        is_dns, is_ssl = pc.equal(kind, "dns"), pc.equal(kind, "ssl")
        none_s, none_i = nulls(n), nulls(n, pa.int64())

        ts, tzd = _zeek_ts(z("ts"), ctx)
        lport, rport = to_int(z("id.orig_p")), to_int(z("id.resp_p"))
        resp_h = z("id.resp_h")
        tcp = _const(n, "tcp")
        proto = pc.coalesce(proto_name(z("proto")), pick(pc.or_(is_http, is_ssl), tcp, none_s))

        # -- http
        method, host, uri = z("method"), z("host"), z("uri")
        host_name = blank_to_null(pc.replace_substring_regex(host, r"^(\[[^\]]*\]|[^:]*)(:\d+)?$", r"\1"))
        host_name = pc.replace_substring_regex(host_name, r"^\[(.*)\]$", r"\1")
        host_has_port = pc.fill_null(pc.match_substring_regex(host, r":\d+$"), False)
        authority = pc.coalesce(host, _bracket_v6(resp_h))
        port_txt = pc.if_else(host_has_port, pa.scalar("", pa.string()),
                              _port_suffix(rport, pa.array([80] * n, pa.int64())))
        origin_form = pc.fill_null(pc.match_substring_regex(uri, r"^[/*]"), False)
        absolute = pc.fill_null(pc.match_substring_regex(uri, r"^[a-zA-Z][a-zA-Z0-9+.-]*://"), False)
        assembled = pc.binary_join_element_wise(pa.scalar("http://"), authority, port_txt, uri, "")
        url = pick(absolute, uri, pick(origin_form, assembled, uri))   # CONNECT: host:port as written
        domain_from_url = url_parts(pick(absolute, uri, none_s))[1]

        out = {
            "ts": ts,
            "event": lookup(kind, ZEEK_EVENTS, "other"),
            "action": pc.coalesce(z("_path", "@stream"), kind),
            "laddr": z("id.orig_h"), "lport": lport, "raddr": resp_h, "rport": rport,
            "proto": proto,
            "http_method": pick(is_http, method, none_s),
            "url": pick(is_http, url, none_s),
            "http_status": pick(is_http, to_int(z("status_code")), none_i),
            "user": pick(is_http, z("username"), none_s),
            "user_agent": pick(is_http, z("user_agent"), none_s),
            "domain": pick(is_http, pc.coalesce(host_name, domain_from_url),
                           pick(is_ssl, z("server_name"), none_s)),
            "dns_query": pick(is_dns, z("query"), none_s),
            "dns_answer": pick(is_dns, _json_list_text(z("answers")), none_s),
            "outcome": pick(is_conn, z("conn_state"), pick(is_dns, z("rcode_name"), none_s)),
            "bytes_out": pick(is_http, to_int(z("request_body_len")),
                              pick(is_conn, to_int(z("orig_bytes")), none_i)),
            "bytes_in": pick(is_http, to_int(z("response_body_len")),
                             pick(is_conn, to_int(z("resp_bytes")), none_i)),
            "sha256": z("sha256"),
            "md5": z("md5"),
        }
        return Normalized(out, tzd)

    def _row_kinds(self, raw: pa.Table, z) -> pa.Array:
        """Per row: the log type from ``_path``/``@stream``, else from the fields it has."""
        n = raw.num_rows
        path = z("_path", "@stream")
        by_path = lookup(path, {k: k for k in ZEEK_EVENTS})
        by_path = pc.if_else(pc.and_(pc.is_valid(path), pc.is_null(by_path)), pa.scalar("other"), by_path)
        kinds = zeek_kinds(set(raw.column_names))
        if len(kinds) == 1:
            guess = _const(n, next(iter(kinds)))
        else:
            v = pc.is_valid
            guess = pick(v(z("trans_depth")), _const(n, "http" if "http" in kinds else "other"),
                         pick(v(z("conn_state")), _const(n, "conn"),
                              pick(pc.and_(v(z("trans_id")), v(z("uid"))), _const(n, "dns"),
                                   pick(v(z("established")), _const(n, "ssl"), _const(n, "other")))))
        return pc.coalesce(by_path, guess)


ZEEK_HTTP = _Zeek("http")
ZEEK_CONN = _Zeek("conn")
ZEEK_DNS = _Zeek("dns")
ZEEK_SSL = _Zeek("ssl")
ZEEK = _Zeek("other")


# ====================================================================== W3C extended
_W3C_PROXY = {"s-action", "sc-filter-result", "cs-categories", "x-exception-id", "r-ip",
              "s-supplier-ip", "s-supplier-name", "x-bluecoat-application-name"}
_W3C_MARKERS = {"c-ip", "cs-method", "sc-status", "s-ip", "cs-uri-stem", "cs-uri-path", "cs-host",
                "s-action", "sc-bytes", "cs-bytes", "cs(User-Agent)", "time-taken"}


class _W3C:
    """W3C extended logs: Blue Coat/Symantec ProxySG (ELFF) and IIS.

    ``date``/``time`` are GMT by the W3C definition. A log with proxy fields
    (``s-action``, ``sc-filter-result``, ``cs-categories`` …) is read as a proxy:
    the server is the upstream (``r-ip``/``s-supplier-ip``, ``cs-uri-port``) and
    ``s-ip`` is the proxy itself; otherwise (IIS) the server is ``s-ip``:``s-port``.
    """

    name = "w3c"
    vendor = "W3C extended (ProxySG/IIS)"
    dedup_key = None
    is_proxy = True

    def detect(self, columns: set[str]) -> int:
        if not ({"date", "time"} <= columns or {"x-timestamp-unix"} & columns):
            return 0
        k = len(_W3C_MARKERS & columns)
        return 15 + k if k >= 2 else 0

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        n = raw.num_rows
        cols = set(raw.column_names)
        proxy = bool(_W3C_PROXY & cols)
        none_s = nulls(n)

        date, time_ = col(raw, "date"), col(raw, "time")
        text = pc.binary_join_element_wise(date, time_, "T")
        ts, tzd = parse_time(text, ctx, assume="UTC")
        tzd = "date/time are GMT (W3C extended log format)" if date.null_count < n else "no date/time"
        unix = col(raw, "x-timestamp-unix")
        if unix.null_count < n:
            ts = pc.coalesce(ts, epoch_auto(unix))
            tzd += "; x-timestamp-unix epoch (UTC by definition)"

        method = col(raw, "cs-method")
        full = col(raw, "cs-uri", "cs-url")
        f_scheme, f_host, f_port = url_parts(full)
        if proxy:
            raddr = col(raw, "r-ip", "s-supplier-ip")
            port = pc.coalesce(to_int(col(raw, "cs-uri-port")), to_int(col(raw, "r-port")), f_port)
            scheme = pc.coalesce(col(raw, "cs-uri-scheme"), f_scheme)
            server = col(raw, "cs-host", "r-dns")
        else:
            raddr = col(raw, "s-ip")
            port = pc.coalesce(to_int(col(raw, "s-port")), f_port)
            scheme = pc.coalesce(col(raw, "cs-uri-scheme"), f_scheme,
                                 pick(pc.fill_null(pc.equal(port, 443), False), _const(n, "https"),
                                      _const(n, "http")))
            server = col(raw, "cs-host")
        domain = pc.coalesce(server, f_host)
        scheme = pc.utf8_lower(scheme)
        path = col(raw, "cs-uri-path", "cs-uri-stem")
        query = col(raw, "cs-uri-query")
        query = pc.if_else(pc.fill_null(pc.starts_with(query, "?"), True), query,
                           pc.binary_join_element_wise(pa.scalar("?"), query, ""))
        authority = pc.coalesce(domain, _bracket_v6(raddr))
        web = _is(scheme, "http", "https", "ftp")
        tunnel = pc.or_(_is(method, "CONNECT"), pc.invert(web))
        assembled = join_skip([
            pc.binary_join_element_wise(scheme, pa.scalar("://"), authority,
                                        _port_suffix(port, _default_port(scheme)), ""),
            pc.coalesce(path, pa.scalar("/")),
            query], "")
        target = pc.binary_join_element_wise(authority, pc.cast(port, pa.string()), ":")
        url = pc.coalesce(full, pick(tunnel, pc.coalesce(target, authority),
                                     pick(pc.is_valid(scheme), assembled, none_s)))
        action = col(raw, "s-action")
        out = {
            "ts": ts,
            "event": _const(n, "http"),
            "action": action,
            "outcome": pc.coalesce(col(raw, "sc-filter-result"), action),
            "laddr": col(raw, "c-ip"),
            "lport": to_int(col(raw, "c-port")),
            "raddr": raddr,
            "rport": pc.coalesce(port, _default_port(scheme)),
            "proto": _const(n, "tcp"),
            "http_method": method,
            "domain": domain,
            "url": url,
            "http_status": to_int(col(raw, "sc-status")),
            "user": col(raw, "cs-username", "cs-userdn"),
            "user_agent": col(raw, "cs(User-Agent)"),
            "bytes_in": to_int(col(raw, "sc-bytes")),
            "bytes_out": to_int(col(raw, "cs-bytes")),
        }
        return Normalized(out, tzd)


W3C = _W3C()


# ====================================================================== Zscaler NSS web
_ZS_MARKERS = {"eurl", "url", "cip", "cintip", "sip", "reqmethod", "respcode", "urlcat", "urlsupercat",
               "urlclass", "login", "devicehostname", "reqsize", "respsize", "appclass", "ruletype"}


def _zs_view(raw: pa.Table) -> pa.Table:
    """The Splunk/HEC shape keeps the record under ``event.``: look through it."""
    return envelope_view(raw, "event.")


def ctime_to_ts(arr: pa.Array, ctx: Ctx) -> tuple[pa.Array, str]:
    """``Fri Dec 31 07:07:07 2021`` (C ``ctime`` style, no zone) → timestamp; zone from --tz."""
    squeezed = pc.replace_substring_regex(pc.utf8_trim_whitespace(arr), r"\s+", " ")
    naive = pc.strptime(squeezed, format="%a %b %d %H:%M:%S %Y", unit="ns", error_is_null=True)
    iso = pc.strftime(naive, format="%Y-%m-%dT%H:%M:%S")
    iso = pc.coalesce(iso, pc.if_else(pc.is_null(naive), arr, _NULL_S))   # ISO text as is
    return parse_time(clean_iso(iso), ctx)


class _Zscaler:
    """Zscaler ZIA NSS web logs as JSON (bare records, or under ``event.`` as in the
    Splunk/HEC shape). ``time`` has no zone (the feed's zone is a feed setting):
    it is read in ``--tz`` (default UTC); ``epochtime`` wins when the feed has it."""

    name = "zscaler"
    vendor = "Zscaler"
    dedup_key = None
    is_proxy = True

    def detect(self, columns: set[str]) -> int:
        cols = {c.removeprefix("event.") for c in columns}
        if not ({"time", "epochtime"} & cols) or not ({"eurl", "url"} & cols):
            return 0
        k = len(_ZS_MARKERS & cols)
        return 20 + k if k >= 5 else 0

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        r = _zs_view(raw)
        n = r.num_rows

        def c(*names):
            return _none_to_null(col(r, *names))

        epoch = col(r, "epochtime")
        ts, tzd = ctime_to_ts(col(r, "time"), ctx)
        if epoch.null_count < n:
            ts = pc.coalesce(epoch_auto(epoch), ts)
            tzd = "epochtime (UTC by definition); else time: " + tzd
        else:
            tzd = "time has no zone: " + tzd
        eurl = c("eurl", "url")
        proto = pc.utf8_lower(c("proto"))
        method = c("reqmethod")
        has_scheme = pc.fill_null(pc.match_substring_regex(eurl, r"^[a-zA-Z][a-zA-Z0-9+.-]*://"), False)
        connect = pc.or_(_is(method, "CONNECT"), _is(proto, "http_proxy", "tunnel", "ssl"))
        scheme = pc.if_else(_is(proto, "https"), pa.scalar("https"), pa.scalar("http"))
        url = pick(pc.or_(has_scheme, connect), eurl,
                   pc.binary_join_element_wise(scheme, pa.scalar("://"), eurl, ""))
        _, dom, port = url_parts(eurl)
        out = {
            "ts": ts,
            "event": _const(n, "http"),
            "action": c("action"),
            "outcome": c("action"),
            "host": c("devicehostname"),
            "laddr": c("cintip", "cip"),
            "raddr": c("sip"),
            "rport": pc.coalesce(port, pick(connect, nulls(n, pa.int64()), _default_port(scheme))),
            "proto": _const(n, "tcp"),
            "http_method": method,
            "domain": pc.coalesce(c("host", "hostname"), dom),
            "url": url,
            "http_status": to_int(c("respcode")),
            "user": c("login", "ologin"),
            "user_agent": c("ua", "useragent"),
            "bytes_out": to_int(c("reqsize")),
            "bytes_in": to_int(c("respsize")),
        }
        return Normalized(out, tzd)


ZSCALER = _Zscaler()


# ====================================================================== CEF / CommonSecurityLog
def us_datetime(arr: pa.Array) -> pa.Array:
    """Azure portal display times ``3/31/2022, 8:18:20.276 AM`` → ISO text (no zone);
    other values unchanged."""
    m = pc.extract_regex(arr, r"^\s*(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}),?\s+(?P<h>\d{1,2}):"
                              r"(?P<mi>\d\d)(?::(?P<s>\d\d)(?P<f>\.\d+)?)?\s*(?P<ap>[AaPp][Mm])?\s*$")
    ok = pc.is_valid(m)
    if not pc.any(ok).as_py():
        return arr
    f = {k: pc.struct_field(m, k) for k in ("mo", "d", "y", "h", "mi", "s", "f", "ap")}
    h = pc.cast(pc.if_else(ok, f["h"], pa.scalar("0")), pa.int64())
    ap = pc.utf8_lower(f["ap"])
    pm = pc.fill_null(pc.equal(ap, "pm"), False)
    am = pc.fill_null(pc.equal(ap, "am"), False)
    h = pc.if_else(pc.and_(pm, pc.less(h, 12)), pc.add(h, 12), h)
    h = pc.if_else(pc.and_(am, pc.equal(h, 12)), 0, h)

    def pad(a):
        return pc.utf8_lpad(a, 2, "0")
    sec = pc.if_else(pc.equal(f["s"], ""), pa.scalar("00"), f["s"])
    iso = pc.binary_join_element_wise(
        f["y"], pa.scalar("-"), pad(f["mo"]), pa.scalar("-"), pad(f["d"]), pa.scalar("T"),
        pad(pc.cast(h, pa.string())), pa.scalar(":"), f["mi"], pa.scalar(":"), sec, f["f"], "")
    return pc.if_else(ok, iso, arr)


def ext_value(ext: pa.Array, key_regex: str) -> pa.Array:
    """A value from Sentinel's ``AdditionalExtensions`` (``k=v;k=v``: the CEF
    extensions it has no column for)."""
    m = pc.extract_regex(ext, rf"(?i)(?:^|;)\s*(?:{key_regex})=(?P<v>[^;]*)")
    return blank_to_null(pc.struct_field(m, "v"))


_CEF_FIELDS = {  # normalized → (Sentinel CommonSecurityLog column, CEF key)
    "laddr": ("SourceIP", "src"), "lport": ("SourcePort", "spt"),
    "raddr": ("DestinationIP", "dst"), "rport": ("DestinationPort", "dpt"),
    "url": ("RequestURL", "request"), "http_method": ("RequestMethod", "requestMethod"),
    "user": ("SourceUserName", "suser"), "user_agent": ("RequestClientApplication", "requestClientApplication"),
    "bytes_in": ("ReceivedBytes", "in"), "bytes_out": ("SentBytes", "out"),
    "host": ("SourceHostName", "shost"),
}


class _Cef:
    """CEF records as Microsoft Sentinel's CommonSecurityLog stores them (JSON/CSV
    exports with ``DeviceVendor``, ``DeviceProduct``, ``SourceIP``, ``RequestURL``…),
    or with the CEF keys (``src``, ``dst``, ``request``…). Web records (a
    ``RequestURL``, or Zscaler ``NSSWeblog``) become ``http``; records with addresses
    ``network_connect``; the rest ``other``. Extensions Sentinel has no column for sit
    in ``AdditionalExtensions`` (``outcome=200;reason=Allowed``) and are read from
    there: ``outcome`` (the HTTP status in Zscaler feeds) and ``*action``."""

    name = "cef"
    vendor = "CEF (Sentinel CommonSecurityLog)"
    dedup_key = None
    is_proxy = True

    def detect(self, columns: set[str]) -> int:
        if not {"DeviceVendor", "DeviceProduct"} <= columns:
            return 0
        return 12 + len({"SourceIP", "DestinationIP", "RequestURL", "DeviceAction", "Activity",
                         "AdditionalExtensions", "src", "dst", "request"} & columns)

    def normalize(self, raw: pa.Table, ctx: Ctx) -> Normalized:
        n = raw.num_rows

        def c(key):
            return _none_to_null(col(raw, *_CEF_FIELDS[key]))

        # ---- time: TimeGenerated (ISO, or the portal's M/D/YYYY h:mm:ss AM), rt/ReceiptTime
        if "TimeGenerated [UTC]" in raw.column_names:
            ts, tzd = parse_time(clean_iso(us_datetime(col(raw, "TimeGenerated [UTC]"))), ctx, assume="UTC")
            tzd = "TimeGenerated [UTC]: " + tzd
        else:
            ts, tzd = parse_time(clean_iso(us_datetime(col(raw, "TimeGenerated"))), ctx)
            tzd = "TimeGenerated: " + tzd
        rt = col(raw, "ReceiptTime", "rt", "deviceReceiptTime")
        if rt.null_count < n:
            num = pc.fill_null(pc.match_substring_regex(rt, r"^\d+$"), False)
            alt = pc.coalesce(epoch_auto(pc.if_else(num, rt, _NULL_S)),
                              parse_time(clean_iso(pc.if_else(num, _NULL_S, rt)), ctx)[0])
            ts = pc.coalesce(ts, alt)
            tzd += "; else ReceiptTime/rt"

        ext = col(raw, "AdditionalExtensions")
        url = c("url")
        product = col(raw, "DeviceProduct")
        web = pc.or_(pc.is_valid(url), pc.fill_null(pc.match_substring_regex(
            product, "(?i)weblog|proxy|web security|swg"), False))
        addr = pc.or_(pc.is_valid(c("laddr")), pc.is_valid(c("raddr")))
        event = pick(web, _const(n, "http"), pick(addr, _const(n, "network_connect"), _const(n, "other")))
        scheme, u_host, u_port = url_parts(url)
        status_txt = pc.coalesce(col(raw, "EventOutcome"), ext_value(ext, "outcome"))
        status = pick(pc.fill_null(pc.match_substring_regex(status_txt, r"^\d{3}$"), False),
                      to_int(status_txt), nulls(n, pa.int64()))
        outcome = pc.coalesce(col(raw, "DeviceAction", "act"), col(raw, "SimplifiedDeviceAction"),
                              ext_value(ext, r"[A-Za-z]*action|act|reason"))
        proto = proto_name(col(raw, "Protocol", "proto", "TransportProtocol"))
        out = {
            "ts": ts,
            "event": event,
            "action": col(raw, "Activity", "Name", "DeviceEventClassID"),
            "outcome": outcome,
            "host": c("host"),
            "laddr": c("laddr"), "lport": to_int(c("lport")),
            "raddr": c("raddr"),
            "rport": pc.coalesce(to_int(c("rport")), u_port, pick(web, _default_port(scheme), nulls(n, pa.int64()))),
            "proto": pc.coalesce(proto, pick(web, _const(n, "tcp"), nulls(n))),
            "http_method": c("http_method"),
            "url": url,
            "domain": pc.coalesce(_none_to_null(col(raw, "DestinationHostName", "dhost",
                                                    "DestinationDnsDomain")), u_host),
            "http_status": status,
            "user": c("user"),
            "user_agent": c("user_agent"),
            "bytes_in": to_int(c("bytes_in")),
            "bytes_out": to_int(c("bytes_out")),
        }
        return Normalized(out, tzd)


CEF = _Cef()

PROFILES = [SQUID, ZEEK_HTTP, ZEEK_CONN, ZEEK_DNS, ZEEK_SSL, ZEEK, W3C, ZSCALER, CEF]
