"""EDR ⇄ proxy correlation on synthetic cases: skewed clocks, NAT'd hosts with only
time-window matching, blocked requests, flows the EDR never logged; and pitfall 4."""
from __future__ import annotations

import pyarrow as pa

from edrql import lineage
from edrql.correlate import correlate
from edrql.render import py_rows
from edrql.schema import SCHEMA

T0 = 1_691_676_000 * 10**9
S = 10**9
SKEW = -(19 * 3600 + 7) * S          # the proxy's clock runs 19 h 7 s behind


def table(rows):
    cols = {n: [r.get(n) for r in rows] for n in SCHEMA.names}
    return pa.table({n: pa.array(v, SCHEMA.field(n).type) for n, v in cols.items()})


def edr(ts, pid, image, **kw):
    return dict(ts=ts, host="pc1", vendor="Sysmon", event=kw.pop("event", "network_connect"),
                pid=pid, image=image, name=image.rsplit("\\", 1)[-1], **kw)


def proxy(ts, **kw):
    return dict(ts=ts, vendor="Squid", event=kw.pop("event", "http"), source="proxy.log", **kw)


def build(rows):
    ev = table(rows)
    return ev, correlate(ev, lineage.build(ev))


def test_skewed_clock_estimated_and_tuples_attributed():
    rows = [dict(ts=T0 - 60 * S, host="pc1", vendor="Sysmon", event="process_start", pid=100,
                 image=r"C:\b\msedge.exe", name="msedge.exe")]
    for i in range(5):
        rows.append(edr(T0 + i * 10 * S, 100, r"C:\b\msedge.exe", laddr="10.0.0.5", lport=50000 + i,
                        raddr="198.51.100.7", rport=80))
        rows.append(proxy(T0 + i * 10 * S + SKEW + 300_000_000, laddr="10.0.0.5", lport=50000 + i,
                          raddr="198.51.100.7", rport=80, url=f"http://dl.example/p{i}", http_status=200))
    ev, cor = build(rows)
    sk = py_rows(cor.skew)[0]
    assert sk["tuple_matches"] == 5 and abs(sk["offset_ns"] - (SKEW + 300_000_000)) < S
    assert sk["offset"].startswith("-19:00:0")
    proxy_rows = [i for i, v in enumerate(ev["vendor"].to_pylist()) if v == "Squid"]
    assert all(cor.match[i] == "tuple" for i in proxy_rows)
    assert len({cor.proc_idx[i] for i in proxy_rows}) == 1


def test_nat_window_matching_and_ambiguity():
    rows = [
        dict(ts=T0 - 60 * S, host="pc1", vendor="Sysmon", event="process_start", pid=7, image=r"C:\x\a.exe", name="a.exe"),
        dict(ts=T0 - 60 * S, host="pc1", vendor="Sysmon", event="process_start", pid=8, image=r"C:\x\b.exe", name="b.exe"),
        edr(T0, 7, r"C:\x\a.exe", laddr="10.0.0.5", raddr="203.0.113.9", rport=443, domain="one.example"),
        edr(T0 + 5 * S, 8, r"C:\x\b.exe", laddr="10.0.0.5", raddr="203.0.113.10", rport=443, domain="two.example"),
        edr(T0 + 6 * S, 7, r"C:\x\a.exe", laddr="10.0.0.5", raddr="203.0.113.10", rport=443, domain="two.example"),
        proxy(T0 + 2 * S, laddr="10.0.0.5", domain="one.example", url="one.example:443", http_status=200),
        proxy(T0 + 6 * S, laddr="10.0.0.5", domain="two.example", url="two.example:443", http_status=200),
        proxy(T0 + 9 * S, laddr="10.0.0.5", domain="blocked.example", url="http://blocked.example/",
              http_status=403, outcome="TCP_DENIED"),
        proxy(T0 + 9 * S, laddr="10.9.9.9", domain="one.example", url="one.example:443", http_status=200),
    ]
    ev, cor = build(rows)
    m = list(cor.match[-4:])
    assert m == ["window", "none", "none", "none"]   # two.example: two processes → not guessed
    procs = lineage.build(ev).procs["name"].to_pylist()
    assert procs[cor.proc_idx[-4]] == "a.exe"
    hm = py_rows(cor.hostmap)
    assert hm == [{"addr": "10.0.0.5", "host": "pc1", "origin": "edr local address", "events": 3,
                   "first": hm[0]["first"], "last": hm[0]["last"]}]


def test_user_host_map_and_udp_dns_the_edr_never_logged():
    rows = [
        dict(ts=T0 - 60 * S, host="pc2", vendor="Sysmon", event="process_start", pid=9, image=r"C:\x\svc.exe", name="svc.exe"),
        proxy(T0, laddr="10.1.1.1", lport=53000, raddr="8.8.8.8", rport=53, proto="udp",
              event="dns_query", dns_query="evil.example"),
    ]
    ev = table(rows)
    cor = correlate(ev, lineage.build(ev), {"10.1.1.1": "pc2"})
    assert cor.match[-1] == "none"
    assert py_rows(cor.hostmap)[0]["origin"] == "user map"


def test_example_pitfall_4_in_one_query(example_case):
    from edrql.query import execute_text, make_context
    ctx = make_context(example_case)
    r = execute_text(ctx, 'procs | where name == "updsvc.exe" | netcheck() '
                          '| where flow == "proxy-only" and domain == "cdn-telemetry.example" '
                          'and http_method == "POST" and http_status == 200 | count')[-1]
    assert r.table["count"][0].as_py() == 12       # 12 beacons the EDR never logged
    none = execute_text(ctx, 'http | where match == "none" and domain == "cdn-telemetry.example" '
                             '| count')[-1]
    assert none.table["count"][0].as_py() == 14
    edr = execute_text(ctx, 'network | where raddr == "203.0.113.45" and vendor != "Squid" | count')[-1]
    assert edr.table["count"][0].as_py() == 0
    ps = execute_text(ctx, 'http | where domain == "update-check.example" | project name, pid, match')[-1]
    assert {(x["name"], x["pid"], x["match"]) for x in py_rows(ps.table)} == {("powershell.exe", 6640, "window")}


def test_mapping_file_proxy_rows_are_correlated(tmp_path):
    """A CSV proxy log read through a mapping file with proxy = true is attributed like Squid."""
    from conftest import ROOT
    from edrql.ingest import Options, ingest
    from edrql.query import execute_text, make_context
    from edrql.store import Case
    from mde_fixture import row, write
    edr = tmp_path / "edr.csv"
    write(edr, [row(0, ActionType="ProcessCreated", ProcessId="700", FileName="evil.exe",
                    FolderPath=r"C:\x\evil.exe"),
                row(1, ActionType="ConnectionSuccess", InitiatingProcessId="700",
                    InitiatingProcessFileName="evil.exe", InitiatingProcessFolderPath=r"C:\x\evil.exe",
                    InitiatingProcessCreationTime="2023-08-10T14:00:00.1234560Z",
                    RemoteIP="198.51.100.20", RemotePort="443")],
          header=["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath",
                  "ProcessId", "ProcessCreationTime", "InitiatingProcessId", "InitiatingProcessFileName",
                  "InitiatingProcessFolderPath", "InitiatingProcessCreationTime", "RemoteIP",
                  "RemotePort", "LocalIP", "LocalPort", "ReportId"])
    text = edr.read_text().replace(",443,,,", ",443,10.1.1.5,50123,")
    edr.write_text(text)
    proxy = tmp_path / "proxy.csv"
    proxy.write_text("timestamp,client_ip,client_port,server_ip,server_port,method,url,status,"
                     "action,user,user_agent,bytes_in,bytes_out\n"
                     "2023-08-10T14:00:01.5Z,10.1.1.5,50123,198.51.100.20,443,GET,"
                     "https://c2.example/x,200,allowed,bob,curl,10,20\n")
    root = str(tmp_path / "case")
    case = Case.create_or_open(root)
    ingest([str(edr)], case, Options())
    ingest([str(proxy)], Case.open(root), Options(mapping=str(ROOT / "examples/mappings/proxy_csv.toml")))
    case = Case.open(root)
    assert [s["proxy"] for s in case.manifest["sources"]] == [False, True]
    r = execute_text(make_context(case), 'http | project name, pid, match')[-1].table.to_pylist()
    assert r == [{"name": "evil.exe", "pid": 700, "match": "tuple"}]


def test_user_host_map_names_follow_the_host_name_rule():
    """A --hostmap line naming the short host ties the address to the FQDN the EDR records."""
    import pyarrow as pa
    from edrql.correlate import host_map
    ev = pa.table({"event": ["network_connect"], "vendor": ["Sysmon"], "source": ["s"],
                   "laddr": ["10.0.0.5"], "host": ["PC-SALES-07.corp.example"],
                   "ts": pa.array([0], pa.timestamp("ns", "UTC"))})
    hm = host_map(ev, {"10.0.0.9": "pc-sales-07", "10.0.0.10": "other-host"}).to_pylist()
    user = {r["addr"]: r["host"] for r in hm if r["origin"] == "user map"}
    assert user == {"10.0.0.9": "PC-SALES-07.corp.example", "10.0.0.10": "other-host"}
