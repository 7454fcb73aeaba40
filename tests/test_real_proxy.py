"""Conformance on real proxy and network-sensor logs in ../shared/data/proxy (skipped when
absent): Squid, ProxySG (Sentinel syslog sample), Zscaler (Sentinel CommonSecurityLog
sample), the OTRF LSASS_campaign_01 Zeek TSV logs and the OTRF APT29 Zeek JSON logs."""
from __future__ import annotations

import pyarrow.compute as pc

from edrql.segcodec import plain
import pytest

from conftest import shared
from edrql.ingest import Options, ingest
from edrql.profiles import proxy
from edrql.readers import read
from edrql.readers.base import expand
from edrql.store import Case


def _ingest(tmp_path, *paths):
    case = Case.create_or_open(str(tmp_path / "case"))
    rep = ingest([str(p) for p in paths], case, Options())
    assert not rep.rejected, rep.rejected
    case = Case.open(str(tmp_path / "case"))
    for s in case.manifest["sources"]:
        assert s["records_read"] == s["rows_stored"] + s["quarantined"] + s["duplicates"], s
    return case, {s["path"].replace("\\", "/").split("/")[-1]: s for s in case.manifest["sources"]}


def _of(case, part):
    ev = case.events
    return ev.filter(pc.match_substring(plain(ev["source"]), part)).sort_by("record")


def test_squid_access_log(tmp_path):
    case, src = _ingest(tmp_path, shared("proxy/squid_access1.log"))
    s = src["squid_access1.log"]
    assert (s["profile"], s["records_read"], s["rows_stored"], s["quarantined"]) == ("squid", 100, 100, 0)
    t = _of(case, "squid")
    assert set(t["event"].to_pylist()) == {"http"}
    assert t["url"].null_count == 0 and t["http_status"].null_count == 0 and t["bytes_in"].null_count == 0


def test_proxysg_sentinel_sample_keeps_invalid_addresses_as_text(tmp_path):
    case, src = _ingest(tmp_path, shared("proxy/sentinel_proxysg_excerpt.log"))
    s = src["sentinel_proxysg_excerpt.log"]
    # no #Fields: in a syslog feed: all 8 lines read with the Sentinel parser's layout
    assert (s["reader"], s["profile"], s["records_read"], s["rows_stored"], s["quarantined"]) == \
        ("w3c", "w3c", 8, 8, 0)
    # the sample's deliberately invalid addresses are kept (as text), not dropped, and noted
    assert any("c-ip" in n and "172.888.184.81" in n and "kept as text" in n for n in s["notes"])
    assert any("s-ip" in n and "172.88.888.2" in n for n in s["notes"])
    t = _of(case, "proxysg")
    laddr = t["laddr"].to_pylist()
    assert "172.888.184.81" in laddr and "172.999.199.93" in laddr and "172.188.21.165" in laddr
    assert set(t["raw.s-ip"].to_pylist()) == {"172.88.888.2"}
    rows = t.select(["ts", "http_method", "url", "http_status", "outcome", "action", "user", "user_agent",
                     "bytes_in", "bytes_out"]).to_pylist()
    assert str(rows[0]["ts"]) == "2020-05-02 02:16:40+00:00"
    assert rows[0]["url"] == "xxx-xxxx-xxxx-xxxx.oms.opinsights.azure.com:443"
    assert (rows[0]["outcome"], rows[0]["action"], rows[0]["bytes_in"], rows[0]["bytes_out"]) == \
        ("OBSERVED", "TCP_TUNNELED", 5414, 2416)
    assert rows[3]["url"].startswith("http://download.windowsupdate.com/d/msdownload/update/")
    assert rows[3]["http_status"] == 206 and rows[3]["user_agent"] == "Microsoft BITS/7.5"
    assert rows[5]["user"] == "user76" and "Chrome/81" in rows[5]["user_agent"]
    assert rows[6]["outcome"] == "PROXIED" and rows[6]["url"] == "http://http-proxy.abcd.com:31415/accelerated_pac_base.pac"


def test_zscaler_sentinel_sample(tmp_path):
    """The sample is a Sentinel CommonSecurityLog array: a Fortinet record and a Zscaler
    NSSWeblog record (CEF), both kept."""
    case, src = _ingest(tmp_path, shared("proxy/sentinel_zscaler_sample.json"))
    s = src["sentinel_zscaler_sample.json"]
    assert (s["profile"], s["records_read"], s["rows_stored"], s["quarantined"]) == ("cef", 2, 2, 0)
    rows = _of(case, "zscaler").select(
        ["ts", "event", "url", "domain", "http_status", "outcome", "user", "laddr", "raddr", "rport",
         "bytes_in", "bytes_out", "raw.DeviceVendor"]).to_pylist()
    fw, zs = rows
    assert fw["raw.DeviceVendor"] == "Fortinet" and fw["event"] == "network_connect" and fw["rport"] == 3389
    assert zs["raw.DeviceVendor"] == "Zscaler" and zs["event"] == "http"
    assert str(zs["ts"]) == "2022-03-31 08:18:20.276000+00:00"
    assert zs["url"] == "http://dayvidmarketingdireto.com.br/shii/office-RD117/"
    assert (zs["domain"], zs["http_status"], zs["outcome"], zs["user"]) == \
        ("dayvidmarketingdireto.com.br", 200, "Allowed", "benjamin@contoso.com")
    assert (zs["laddr"], zs["raddr"], zs["rport"], zs["bytes_in"], zs["bytes_out"]) == \
        ("192.168.20.44", "108.167.132.213", 80, 550, 307)


LSASS_PROFILES = {"http.log": "zeek_http", "conn.log": "zeek_conn", "dns.log": "zeek_dns",
                  "ssl.log": "zeek_ssl"}


def test_lsass_campaign_zeek_zip_every_member(tmp_path):
    zip_ = shared("proxy/otrf_lsass_campaign_01_zeek.zip")
    members = [i.member for i in expand([str(zip_)])]
    case, src = _ingest(tmp_path, zip_)
    assert len(src) == len(members) == 12
    for name, s in src.items():
        member = name.split("!")[-1]
        assert s["reader"] == "zeek" and s["quarantined"] == 0, s
        assert s["profile"] == LSASS_PROFILES.get(member, "zeek"), s
    counts = {name.split("!")[-1]: s["rows_stored"] for name, s in src.items()}
    assert counts["conn.log"] == 112 and counts["dns.log"] == 96 and counts["http.log"] == 3
    http = _of(case, "!http.log")
    assert set(http["event"].to_pylist()) == {"http"}
    assert http["http_status"].to_pylist() == [200, 404, 200]
    assert http["lport"].to_pylist() == [55213, 52887, 51126]
    assert set(http["raddr"].to_pylist()) == {"10.0.5.13"} and set(http["rport"].to_pylist()) == {80}
    # the sensor saw only the server's side of these connections (conn.log: 0 originator
    # packets): Zeek logged replies without requests, so method/host/uri are unset
    assert http["http_method"].null_count == 3 and http["url"].null_count == 3
    assert http["bytes_in"].to_pylist() == [248, 335, 7168]
    ssl = _of(case, "!ssl.log")
    assert set(ssl["event"].to_pylist()) == {"network_connect"} and set(ssl["rport"].to_pylist()) == {8080}
    dns = _of(case, "!dns.log")
    assert set(dns["event"].to_pylist()) == {"dns_query"} and set(dns["proto"].to_pylist()) == {"udp"}
    other = _of(case, "!files.log")
    assert set(other["event"].to_pylist()) == {"other"} and set(other["action"].to_pylist()) == {"files"}


def test_apt29_zeek_json_every_file(tmp_path):
    folder = shared("proxy/otrf_apt29_zeek")
    case, src = _ingest(tmp_path, folder)
    assert len(src) == 5
    expect = {"SCRANTON_conn.log": ("zeek_conn", 134), "SCRANTON_dns.log": ("zeek_dns", 32),
              "SCRANTON_files.log": ("zeek", 69), "SCRANTON_http.log": ("zeek_http", 62),
              "UTICA-A_http.log": ("zeek_http", 1)}
    for name, (profile, n) in expect.items():
        s = src[name]
        assert (s["reader"], s["profile"], s["records_read"], s["rows_stored"]) == ("json", profile, n, n), s
    http = _of(case, "SCRANTON_http")
    assert set(http["event"].to_pylist()) == {"http"}
    assert http["url"].null_count == 0 and http["http_method"].null_count == 0
    assert http["http_status"].null_count == 0 and http["laddr"].null_count == 0
    first = http.slice(0, 1).select(["url", "http_method", "http_status", "laddr", "lport"]).to_pylist()[0]
    assert first == {"url": "http://192.168.0.4/", "http_method": "OPTIONS", "http_status": 403,
                     "laddr": "10.0.1.4", "lport": 60757}
    utica = _of(case, "UTICA").select(["url", "bytes_in"]).to_pylist()[0]
    assert utica == {"url": "http://192.168.0.4:8080/m", "bytes_in": 1011864}
    dns = _of(case, "SCRANTON_dns")
    assert dns["dns_query"][0].as_py() == "newyork.dmevals.local" and dns["dns_answer"][0].as_py() == "10.0.0.4"


@pytest.mark.parametrize("rel", ["sysmon/otrf_empire_launcher_vbs.zip", "vendor/msticpy_mde_proc_pub.csv",
                                 "vendor/elastic_crowdstrike_fdr_excerpt.ndjson",
                                 "vendor/elastic_m365_defender_stream_excerpt.ndjson",
                                 "security/msticpy_win_proc_test_4688.csv",
                                 "vendor/otrf_goldensaml_m365defender.zip"])
def test_proxy_profiles_claim_no_endpoint_source(rel):
    for inp in expand([str(shared(rel))]):
        cols = set(read(inp).table.column_names)
        for p in proxy.PROFILES:
            assert p.detect(cols) == 0, (p.name, inp.name)
