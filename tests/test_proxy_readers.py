"""Proxy and network-sensor readers and profiles on own fixtures (tests/fixtures/proxy):
Zeek TSV and JSON, W3C extended (ProxySG with #Fields changing mid-file, IIS, header-less
syslog lines), Zscaler NSS web JSON, CEF as Sentinel's CommonSecurityLog."""
from __future__ import annotations

import json
import shutil

import pyarrow.compute as pc

from edrql.segcodec import plain
import pytest

from conftest import FIXTURES
from edrql.ingest import Options, ingest
from edrql.profiles import detect, proxy
from edrql.readers import read, sniff
from edrql.readers.base import expand
from edrql.store import Case

FX = FIXTURES / "proxy"


def _ingest(tmp_path, *files, **opts):
    case = Case.create_or_open(str(tmp_path / "case"))
    rep = ingest([str(f) for f in files], case, Options(**opts))
    assert not rep.rejected, rep.rejected
    case = Case.open(str(tmp_path / "case"))
    for s in case.manifest["sources"]:
        assert s["records_read"] == s["rows_stored"] + s["quarantined"] + s["duplicates"], s
    return case, rep


def _rows(case, source_part, cols):
    ev = case.events
    t = ev.filter(pc.match_substring(plain(ev["source"]), source_part)).sort_by("record")
    return t.select(cols).to_pylist()


def _source(case, part):
    return next(s for s in case.manifest["sources"] if part in s["path"])


def _batch(name):
    [inp] = expand([str(FX / name)])
    return read(inp)


# ------------------------------------------------------------------ sniffing
# fixture → (reader the content sniffs as, profile it is detected as)
FIXTURES = {
    "zeek_http.log": ("zeek", "zeek_http"), "zeek_conn_concat.log": ("zeek", "zeek_conn"),
    "zeek_dns.log": ("zeek", "zeek_dns"),
    "zeek_http_rock.json": ("json", "zeek_http"), "zeek_http_std.json": ("json", "zeek_http"),
    "w3c_proxysg.log": ("w3c", "w3c"), "w3c_iis.log": ("w3c", "w3c"),
    "proxysg_headerless.log": ("w3c", "w3c"),
    "zscaler_nss.json": ("json", "zscaler"), "cef_commonsecuritylog.json": ("json", "cef"),
}


@pytest.mark.parametrize("name,kind", [(n, k) for n, (k, _) in FIXTURES.items()])
def test_sniff_by_content(name, kind):
    [inp] = expand([str(FX / name)])
    assert sniff(inp) == kind


@pytest.mark.parametrize("name,profile", [(n, p) for n, (_, p) in FIXTURES.items()])
def test_profile_detection(name, profile):
    p = detect(set(_batch(name).table.column_names))
    assert p is not None and p.name == profile
    assert getattr(p, "is_proxy", False)


# ------------------------------------------------------------------ Zeek TSV
def test_zeek_tsv_values_escapes_and_accounting():
    b = _batch("zeek_http.log")
    assert b.fmt == "zeek"
    assert b.records_read == 7                       # header and #close are not records
    assert b.table.num_rows == 6
    assert b.records.to_pylist() == [9, 10, 11, 12, 13, 15]   # line numbers
    [q] = b.quarantine
    assert q.record == 14 and "expected 30 fields, found 5" in q.reason
    assert q.raw == "1709287205.000000\tCBAD5\t192.168.1.41\t50005\ttruncated line"
    t = b.table.to_pydict()
    assert "_path" in t and set(t["_path"]) == {"http"}
    assert t["tags"][0] == ""                        # (empty) → empty string
    assert t["referrer"][0] is None                  # - (unset) → null
    assert t["uri"][1] == "/a\tb?q=1"                # \x09 decoded
    assert t["user_agent"][2] == "-"                 # \x2d: a literal dash, not "unset"
    assert t["uri"][4] == "/raw\\path"               # \\ → \
    assert t["resp_mime_types"][0] == "text/html,image/png"   # vector keeps the set separator


def test_zeek_concatenated_logs_union_fields():
    b = _batch("zeek_conn_concat.log")
    assert b.records_read == 3 and not b.quarantine
    t = b.table.to_pydict()
    assert t["service"] == ["http", "dns", None]     # second header block has no service
    assert t["conn_state"] == ["SF", "SF", "REJ"]
    assert b.records.to_pylist() == [9, 10, 20]


def test_zeek_http_normalized(tmp_path):
    case, _ = _ingest(tmp_path, FX / "zeek_http.log")
    rows = _rows(case, "zeek_http.log", ["event", "action", "ts", "laddr", "lport", "raddr", "rport",
                                         "proto", "http_method", "domain", "url", "http_status",
                                         "outcome", "user", "user_agent", "bytes_in", "bytes_out", "host"])
    assert {r["event"] for r in rows} == {"http"} and {r["action"] for r in rows} == {"http"}
    r0 = rows[0]
    assert (r0["laddr"], r0["lport"], r0["raddr"], r0["rport"], r0["proto"]) == \
        ("192.168.1.41", 50001, "10.0.5.13", 80, "tcp")
    assert r0["url"] == "http://example.com/index.html" and r0["domain"] == "example.com"
    assert r0["http_method"] == "GET" and r0["http_status"] == 200 and r0["outcome"] is None
    assert r0["bytes_in"] == 1024 and r0["bytes_out"] == 0
    assert r0["user_agent"].startswith("Mozilla/5.0 (Windows") and r0["host"] is None
    assert pc.cast(case.events["ts"], "int64").to_pylist()[0] == 1709287200123456000   # µs exact
    assert rows[2]["url"] == "http://evil.example:8080/upload"      # Host header carries the port
    assert rows[2]["domain"] == "evil.example" and rows[2]["user"] == "bob"
    assert rows[3]["http_method"] is None and rows[3]["url"] is None and rows[3]["http_status"] == 200
    assert rows[4]["url"] == "http://10.0.5.14:8000/raw\\path"      # no Host: server address + port
    assert rows[5]["http_method"] == "CONNECT" and rows[5]["url"] == "tunnel.example:443"
    [q] = case.quarantine.to_pylist()
    assert q["record"] == 14 and "truncated line" in q["raw"]


def test_zeek_dns_and_conn(tmp_path):
    case, _ = _ingest(tmp_path, FX / "zeek_dns.log", FX / "zeek_conn_concat.log")
    dns = _rows(case, "zeek_dns", ["event", "proto", "dns_query", "dns_answer", "outcome", "rport"])
    assert [d["event"] for d in dns] == ["dns_query"] * 3
    assert dns[0]["dns_query"] == "evil.example" and dns[0]["dns_answer"] == "203.0.113.9,203.0.113.10"
    assert dns[1]["outcome"] == "NXDOMAIN" and dns[1]["dns_answer"] is None
    assert _source(case, "zeek_dns")["duplicates"] == 0      # a retransmission is its own record
    conn = _rows(case, "zeek_conn", ["event", "proto", "outcome", "bytes_out", "bytes_in", "rport"])
    assert [c["event"] for c in conn] == ["network_connect"] * 3
    assert [c["proto"] for c in conn] == ["tcp", "udp", "tcp"]
    assert conn[2]["outcome"] == "REJ" and conn[0]["bytes_out"] == 120 and conn[0]["bytes_in"] == 1200


# ------------------------------------------------------------------ Zeek JSON
def test_zeek_json_both_naming_styles(tmp_path):
    case, _ = _ingest(tmp_path, FX / "zeek_http_rock.json", FX / "zeek_http_std.json")
    cols = ["laddr", "lport", "raddr", "rport", "http_method", "url", "http_status", "user_agent"]
    rock = _rows(case, "rock", cols)
    std = _rows(case, "std", cols + ["record", "ts"])
    assert rock[0] == {"laddr": "10.0.1.4", "lport": 60757, "raddr": "192.168.0.4", "rport": 80,
                       "http_method": "GET", "url": "http://192.168.0.4/payload.ps1", "http_status": 200,
                       "user_agent": "WindowsPowerShell/5.1"}
    assert rock[1]["url"] == "http://192.168.0.4:8080/c2"
    assert std[0]["url"] == "http://updates.example.org/v2/check?id=7" and std[0]["laddr"] == "192.168.1.50"
    assert [s["record"] for s in std] == [1, 3]
    assert std[1]["ts"].microsecond == 1                     # ISO-8601 ts kept to the µs
    [q] = case.quarantine.to_pylist()
    assert q["record"] == 2 and q["reason"].startswith("invalid JSON") and "broken" in q["raw"]
    ev = case.events
    assert "raw.id_orig_h" in ev.column_names and "raw.id.orig_h" in ev.column_names


def test_zeek_json_stream_of_mixed_logs(tmp_path):
    case, _ = _ingest(tmp_path, FX / "zeek_mixed.json")
    rows = _rows(case, "mixed", ["event", "action", "dns_query", "dns_answer", "url", "outcome", "sha256"])
    assert [r["event"] for r in rows] == ["network_connect", "dns_query", "dns_query", "http", "other"]
    assert [r["action"] for r in rows] == ["conn", "dns", "dns", "http", "files"]
    assert rows[1]["dns_answer"] == "10.9.9.9,a-alias.example" and rows[0]["outcome"] == "SF"
    assert rows[3]["url"] == "http://a.example/" and rows[4]["sha256"] == "ab" * 32
    # a mixed stream has no single record key: the whole record identifies it
    assert proxy.ZEEK_HTTP.dedup_key_for(set(_batch("zeek_mixed.json").table.column_names)) is None


def test_zeek_dedup_by_uid_across_tsv_and_json(tmp_path):
    """The same HTTP transactions as TSV and as JSON are stored once (uid + trans_depth)."""
    b = _batch("zeek_http.log")
    recs = [{k: v for k, v in r.items() if v is not None and k != "_path"} for r in b.table.to_pylist()]
    j = tmp_path / "http_as_json.log"
    j.write_text("\n".join(json.dumps(r) for r in recs[:3]) + "\n", encoding="utf-8")
    case, _ = _ingest(tmp_path, FX / "zeek_http.log", j)
    s = _source(case, "http_as_json")
    assert s["profile"] == "zeek_http" and s["duplicates"] == 3 and s["rows_stored"] == 0
    assert proxy.ZEEK_HTTP.dedup_key_for(set(b.table.column_names)) == ["uid", "trans_depth"]
    assert proxy.ZEEK_DNS.dedup_key_for(set(_batch("zeek_dns.log").table.column_names)) == \
        ["uid", "trans_id", "ts"]


def test_zeek_duplicate_line_within_a_file(tmp_path):
    text = (FX / "zeek_http.log").read_text(encoding="utf-8").splitlines()
    dup = text[:9] + [text[8]] + text[9:]            # the first data line twice
    f = tmp_path / "dup_http.log"
    f.write_text("\n".join(dup) + "\n", encoding="utf-8")
    case, _ = _ingest(tmp_path, f)
    s = _source(case, "dup_http")
    assert (s["records_read"], s["rows_stored"], s["duplicates"], s["quarantined"]) == (8, 6, 1, 1)


def test_zeek_header_only_log_is_accounted(tmp_path):
    lines = (FX / "zeek_http.log").read_text(encoding="utf-8").splitlines()
    f = tmp_path / "empty_http.log"
    f.write_text("\n".join(lines[:8] + [lines[-1]]) + "\n", encoding="utf-8")
    case, rep = _ingest(tmp_path, f)
    s = _source(case, "empty_http")
    assert s["records_read"] == 0 and s["rows_stored"] == 0 and s["profile"] == "zeek_http"


# ------------------------------------------------------------------ W3C extended
def test_w3c_fields_change_mid_file_and_quotes():
    b = _batch("w3c_proxysg.log")
    assert b.fmt == "w3c" and b.records_read == 6
    assert b.records.to_pylist() == [7, 8, 9, 12, 13]
    [q] = b.quarantine
    assert q.record == 10 and "expected 25 fields" in q.reason and q.raw.endswith("too few fields")
    t = b.table.to_pydict()
    assert t["cs(User-Agent)"][0] == "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    assert t["cs-categories"][1] == "Malicious Sources/Malnets"     # quotes are syntax, not data
    assert t["cs(User-Agent)"][3] == 'Agent "quoted" 1.0'           # doubled quotes inside
    assert t["cs-username"][3] == "CORP\\carol"
    assert t["r-ip"][:3] == [None, None, None] and t["r-ip"][3] == "198.51.100.20"   # second #Fields
    assert t["sc-bytes"][3] is None and t["sc-bytes"][0] == "5120"
    assert t["cs(Referer)"][0] == "-"                               # raw keeps "-" as written


def test_w3c_proxysg_normalized(tmp_path):
    case, _ = _ingest(tmp_path, FX / "w3c_proxysg.log")
    rows = _rows(case, "w3c_proxysg", ["ts", "event", "action", "outcome", "laddr", "lport", "raddr",
                                       "rport", "http_method", "domain", "url", "http_status", "user",
                                       "user_agent", "bytes_in", "bytes_out", "host"])
    r = rows[0]
    assert str(r["ts"]) == "2024-03-01 10:00:01+00:00"              # date/time are GMT
    assert r["url"] == "http://www.example.com/index.html?a=1&b=2"
    assert (r["action"], r["outcome"], r["http_status"], r["user"]) == ("TCP_NC_MISS", "OBSERVED", 200, "alice")
    assert (r["laddr"], r["raddr"], r["rport"], r["host"]) == ("192.168.1.41", None, 80, None)
    assert r["bytes_in"] == 5120 and r["bytes_out"] == 410
    assert rows[1]["outcome"] == "DENIED" and rows[1]["url"] == "http://evil.example:8080/stage2.bin"
    assert rows[2]["http_method"] == "CONNECT" and rows[2]["url"] == "login.example.net:443"
    assert rows[3]["url"] == "https://cdn.example.org/lib.js?v=3"   # query without "?" gets one
    assert (rows[3]["raddr"], rows[3]["rport"], rows[3]["lport"]) == ("198.51.100.20", 443, 50123)
    assert rows[3]["outcome"] == "PROXIED" and rows[3]["action"] == "TCP_HIT"
    assert len(case.quarantine) == 1


def test_w3c_iis(tmp_path):
    case, _ = _ingest(tmp_path, FX / "w3c_iis.log")
    rows = _rows(case, "iis", ["laddr", "raddr", "rport", "url", "http_method", "http_status", "user_agent",
                               "outcome", "domain"])
    assert rows[0]["url"] == "https://10.0.0.5/owa/auth/logon.aspx?replaceCurrent=1"
    assert (rows[0]["laddr"], rows[0]["raddr"], rows[0]["rport"]) == ("203.0.113.50", "10.0.0.5", 443)
    assert rows[1]["url"] == "http://10.0.0.5/aspnet_client/shell.aspx" and rows[1]["http_method"] == "POST"
    assert rows[0]["outcome"] is None and rows[0]["domain"] is None


def test_w3c_headerless_proxysg_syslog_lines(tmp_path):
    case, _ = _ingest(tmp_path, FX / "proxysg_headerless.log")
    s = _source(case, "headerless")
    assert (s["records_read"], s["rows_stored"], s["quarantined"]) == (4, 3, 1)
    assert any("Sentinel" in n for n in s["notes"]) and any("bcreportermain_v1" in n for n in s["notes"])
    assert any("192.168.300.7" in n and "kept as text" in n for n in s["notes"])
    rows = _rows(case, "headerless", ["record", "laddr", "url", "raw.syslog_prefix", "raw.s-port",
                                      "raw.cs-threat-risk", "http_status"])
    assert rows[0]["raw.syslog_prefix"] == "<134>Mar  1 10:00:01 proxy-01"
    assert rows[0]["url"] == "c2.example.net:443" and rows[0]["raw.cs-threat-risk"] == "5"
    assert rows[1]["laddr"] == "192.168.300.7"                      # invalid address kept as text
    assert rows[2]["url"] == "http://download.example.com/update.exe" and rows[2]["raw.s-port"] is None
    [q] = case.quarantine.to_pylist()
    assert q["record"] == 4 and "match no known ProxySG layout" in q["reason"]
    assert q["raw"] == "2024-03-01 10:00:04 this is not an access log line"


# ------------------------------------------------------------------ Zscaler and CEF
def test_zscaler_nss_web_json(tmp_path):
    case, _ = _ingest(tmp_path, FX / "zscaler_nss.json")
    s = _source(case, "zscaler")
    assert "no zone" in s["tz_decision"] and "UTC" in s["tz_decision"]
    rows = _rows(case, "zscaler", ["ts", "host", "laddr", "raddr", "rport", "url", "domain", "http_method",
                                   "http_status", "outcome", "user", "user_agent", "bytes_in", "bytes_out"])
    r = rows[0]
    assert str(r["ts"]) == "2024-03-01 10:00:00+00:00"
    assert r["url"] == "https://portal.example.com/login?next=%2Fhome" and r["domain"] == "portal.example.com"
    assert (r["host"], r["laddr"], r["raddr"], r["rport"]) == ("WS-ALICE", "192.168.1.41", "198.51.100.30", 443)
    assert (r["user"], r["bytes_out"], r["bytes_in"], r["outcome"]) == ("alice@corp.example", 600, 14230, "Allowed")
    assert rows[1]["outcome"] == "Blocked" and rows[1]["http_status"] == 403
    assert rows[1]["laddr"] == "203.0.113.1"                        # no cintip: cip
    assert rows[2]["url"] == "c2.example.net:443" and rows[2]["rport"] == 443
    assert rows[2]["user_agent"] is None and rows[2]["host"] is None   # "None" is no value
    ev = case.events
    assert ev.filter(pc.match_substring(plain(ev["source"]), "zscaler"))["url_decoded"][0].as_py() == \
        "https://portal.example.com/login?next=/home"


def test_zscaler_time_zone_from_tz(tmp_path):
    case, _ = _ingest(tmp_path, FX / "zscaler_nss.json", tz="Asia/Tokyo", tz_given=True)
    assert str(_rows(case, "zscaler", ["ts"])[0]["ts"]) == "2024-03-01 01:00:00+00:00"
    assert "Asia/Tokyo (--tz)" in _source(case, "zscaler")["tz_decision"]


def test_cef_commonsecuritylog(tmp_path):
    case, _ = _ingest(tmp_path, FX / "cef_commonsecuritylog.json")
    rows = _rows(case, "cef", ["ts", "event", "action", "outcome", "host", "laddr", "lport", "raddr", "rport",
                               "proto", "url", "domain", "http_status", "user", "user_agent", "bytes_in"])
    assert [r["event"] for r in rows] == ["http", "network_connect", "other"]
    r = rows[0]
    assert (r["http_status"], r["outcome"], r["host"], r["domain"], r["rport"]) == \
        (403, "Blocked", "WS-ALICE", "evil.example", 80)
    assert r["user_agent"] == "Microsoft BITS/7.8" and r["bytes_in"] == 65
    assert str(rows[1]["ts"]) == "2024-03-01 12:05:00.250000+00:00"     # 12:05 PM
    assert str(rows[2]["ts"]) == "2024-03-01 00:06:00+00:00"            # 12:06 AM
    assert (rows[1]["lport"], rows[1]["rport"], rows[1]["proto"], rows[1]["outcome"]) == (50999, 4444, "tcp", "allow")


# ------------------------------------------------------------------ the whole folder
def test_every_fixture_reconciles(tmp_path):
    folder = tmp_path / "proxy"
    shutil.copytree(FX, folder)
    case, rep = _ingest(tmp_path, folder)
    assert len(rep.sources) == len(list(FX.iterdir()))
    total = sum(s["records_read"] for s in case.manifest["sources"])
    assert total == case.events.num_rows + len(case.quarantine) + \
        sum(s["duplicates"] for s in case.manifest["sources"])
    assert case.events.filter(pc.is_valid(case.events["host"]))["vendor"].unique().to_pylist() \
        in (["Zscaler", "CEF (Sentinel CommonSecurityLog)"], ["CEF (Sentinel CommonSecurityLog)", "Zscaler"])


def test_example_proxy_csv_mapping(tmp_path):
    from conftest import ROOT
    f = tmp_path / "proxy.csv"
    f.write_text(
        "timestamp,client_ip,client_port,server_ip,server_port,method,url,status,action,user,user_agent,"
        "bytes_in,bytes_out\n"
        "2024-03-01 10:00:01.250,192.168.1.41,50123,198.51.100.20,443,GET,https://cdn.example.org/lib.js?v=3,"
        "200,allowed,alice,Mozilla/5.0,5120,410\n"
        "2024-03-01 10:00:02,192.168.1.41,50124,198.51.100.21,80,CONNECT,c2.example.net:443,200,blocked,,,0,0\n",
        encoding="utf-8")
    case, _ = _ingest(tmp_path, f, mapping=str(ROOT / "examples" / "mappings" / "proxy_csv.toml"))
    rows = _rows(case, "proxy.csv", ["ts", "event", "laddr", "lport", "raddr", "rport", "proto", "domain",
                                     "url", "http_status", "outcome", "user", "user_agent", "bytes_in",
                                     "bytes_out"])
    r = rows[0]
    assert str(r["ts"]) == "2024-03-01 10:00:01.250000+00:00" and r["event"] == "http"
    assert (r["laddr"], r["lport"], r["raddr"], r["rport"], r["proto"]) == \
        ("192.168.1.41", 50123, "198.51.100.20", 443, "tcp")
    assert (r["domain"], r["http_status"], r["outcome"], r["bytes_in"], r["bytes_out"]) == \
        ("cdn.example.org", 200, "allowed", 5120, 410)
    assert rows[1]["domain"] == "c2.example.net" and rows[1]["user"] is None


# ------------------------------------------------------------------ edge cases
def test_w3c_tokenizer_quotes_and_blanks():
    import pyarrow as pa
    from edrql.readers.w3c import _tokenize_regex, tokenize
    lines = pa.array(['a b', '  a \t "b  c"   d ', '"x""y" z', 'x "unbalanced y', 'é  "ü ö"', 'a"b c"d e'])
    expect = [["a", "b"], ["a", '"b  c"', "d"], ['"x""y"', "z"], ["x", '"unbalanced y'], ["é", '"ü ö"'],
              ['a"b c"d', "e"]]
    assert tokenize(lines).to_pylist() == expect
    assert _tokenize_regex(lines).to_pylist() == expect              # the slow path agrees


def test_w3c_unbalanced_quote(tmp_path):
    """A quote left open swallows the rest of its line (only that line): when that
    breaks the field count the line is quarantined; in the last field the value is
    kept as written."""
    f = tmp_path / "w3c.log"
    f.write_text("#Version: 1.0\n#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(User-Agent)\n"
                 '2024-03-01 00:00:01 10.0.0.1 GET / 200 "ok agent"\n'
                 '2024-03-01 00:00:02 10.0.0.1 GET "/a b 200 -\n'
                 '2024-03-01 00:00:03 10.0.0.1 GET / 200 "truncated agent\n'
                 '2024-03-01 00:00:04 10.0.0.1 GET /x 404 -\n', encoding="utf-8")
    case, _ = _ingest(tmp_path, f)
    assert _rows(case, "w3c.log", ["record", "user_agent"]) == [
        {"record": 3, "user_agent": "ok agent"}, {"record": 5, "user_agent": '"truncated agent'},
        {"record": 6, "user_agent": None}]
    [q] = case.quarantine.to_pylist()
    assert q["record"] == 4 and "expected 7 fields" in q["reason"] and q["raw"].endswith('"/a b 200 -')


def test_zeek_data_before_fields_is_quarantined(tmp_path):
    lines = (FX / "zeek_http.log").read_text(encoding="utf-8").splitlines()
    f = tmp_path / "odd_http.log"
    f.write_text("\n".join(["#separator \\x09", "stray\tline"] + lines[1:]) + "\n", encoding="utf-8")
    case, _ = _ingest(tmp_path, f)
    q = sorted(case.quarantine.to_pylist(), key=lambda r: r["record"])
    assert q[0]["record"] == 2 and q[0]["reason"] == "data line before any #fields header"
    assert _source(case, "odd_http")["rows_stored"] == 6
