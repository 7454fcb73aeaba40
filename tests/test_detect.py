"""Detection: truncated EVTX, binary garbage, cp1252 vs cp932, undecodable bytes."""
from __future__ import annotations

import gzip
import json
import random
import re
import struct
import zlib

import pytest

from edrql import safetext
from edrql.readers.base import Input
from edrql.readers.text import decode

from conftest import shared
from mde_fixture import row, write
from test_cli import run as cli

SYSMON = "sysmon/evtx/sbousseaden_babyshark_mimikatz_powershell.evtx"   # 33 records, one chunk


def only_source(case) -> dict:
    r = cli("info", str(case), "--format", "json")
    assert r.returncode == 0, r.stderr
    [s] = json.loads(r.stdout)["sources"]
    return s


def quarantine(case) -> list[dict]:
    r = cli(str(case), "-c", "quarantine | project record, reason, raw", "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# ------------------------------------------------------------------ truncated EVTX
@pytest.mark.parametrize("cut", [4_200, 5_000, 20_000, 37_000])
def test_evtx_truncated_early_is_a_truncated_evtx(tmp_path, cut):
    src = shared(SYSMON)
    full = cli("ingest", str(src), "--case", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    whole = only_source(tmp_path / "full")
    p = tmp_path / "cut.evtx"
    p.write_bytes(src.read_bytes()[:cut])
    r = cli("ingest", str(p), "--case", str(tmp_path / "case"))
    assert "unknown format" not in r.stderr and "Traceback" not in r.stderr
    s = only_source(tmp_path / "case")
    assert (s["reader"], s["profile"]) == ("evtx", "winevent")
    assert s["records_read"] == whole["records_read"] == 33          # declared, not recovered
    assert s["rows_stored"] + s["quarantined"] == 33 and s["quarantined"] > 0
    assert any("truncated EVTX" in n for n in s["notes"])
    assert any("read whole" in n for n in s["notes"]) or cut < 4096 + 512
    q = quarantine(tmp_path / "case")
    assert all(x["reason"].startswith("truncated EVTX") for x in q)
    ids = [json.loads(x["raw"])["record_id"] for x in q]
    assert ids == list(range(s["rows_stored"] + 1, 34))             # the missing ones, by id
    if s["rows_stored"]:                                              # whole records, as written
        a = cli(str(tmp_path / "full"), "-c", "events | project raw.System.EventRecordID, cmdline "
                f"| head {s['rows_stored']}", "--format", "csv")
        b = cli(str(tmp_path / "case"), "-c", "events | project raw.System.EventRecordID, cmdline",
                "--format", "csv")
        assert a.stdout == b.stdout and a.returncode == b.returncode == 0


def synthetic_evtx(first: int, last: int, cut: int, record_at_512: bool = True) -> bytes:
    """Our own minimal EVTX: a file header and one chunk header declaring records
    first..last, cut `cut` bytes in (no real record inside)."""
    h = bytearray(4096)
    h[0:8] = b"ElfFile\x00"
    struct.pack_into("<QQQIHHHH", h, 8, 0, 0, last + 1, 128, 1, 3, 4096, 1)
    struct.pack_into("<I", h, 124, zlib.crc32(bytes(h[:120])))
    c = bytearray(65536)
    c[0:8] = b"ElfChnk\x00"
    struct.pack_into("<QQQQIIII", c, 8, first, last, first, last, 128, 512, 2000, 0)
    if record_at_512:
        struct.pack_into("<IIQ", c, 512, 0x2A2A, 1400, first)   # a record header, body cut off
    struct.pack_into("<I", c, 124, zlib.crc32(bytes(c[:120]) + bytes(c[128:512])))
    return bytes(h + c)[:cut]


def test_synthetic_truncated_evtx_counts_declared_records(tmp_path):
    p = tmp_path / "Security.evtx"
    p.write_bytes(synthetic_evtx(41, 43, 4096 + 700))
    r = cli("ingest", str(p), "--case", str(tmp_path / "case"))
    assert r.returncode == 0, r.stderr                 # ingested: 0 stored, 3 quarantined
    s = only_source(tmp_path / "case")
    assert (s["reader"], s["records_read"], s["rows_stored"], s["quarantined"]) == ("evtx", 3, 0, 3)
    q = quarantine(tmp_path / "case")
    assert "inside record 41 (it starts at byte 4608" in q[0]["reason"]
    assert [json.loads(x["raw"])["record_id"] for x in q] == [41, 42, 43]


# ------------------------------------------------------------------ binary content
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_binary_garbage_is_a_clear_rejection(tmp_path):
    rnd = random.Random(11)
    files = {
        "noise.bin": bytes(rnd.randrange(256) for _ in range(5000)),
        "header_then_noise.csv": b"a,b,c\n" + bytes(rnd.randrange(256) for _ in range(3000)),
        "term_attack.log": b"\x1b[2J\x1b]0;owned\x07" * 40 + bytes(range(32)) * 20,
        "tool.exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 64,
        "logs.csv.gz": gzip.compress(b"a,b\n1,2\n" * 100),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    ok = tmp_path / "ok.csv"
    write(ok, [row(1)])
    r = cli("ingest", *sorted(str(tmp_path / n) for n in files), str(ok),
            "--case", str(tmp_path / "case"))
    assert r.returncode == 1
    for text in (r.stdout, r.stderr):
        assert "Traceback" not in text and "internal error" not in text
        assert not _RAW_CONTROL.search(text), repr(_RAW_CONTROL.search(text))
    for name in files:
        assert f"{name}: binary content, not a log export" in r.stderr, name
    assert "a Windows executable" in r.stderr and "gzip-compressed data" in r.stderr
    assert only_source(tmp_path / "case")["rows_stored"] == 1


def test_utf16_without_bom_is_not_binary():
    from edrql.readers import binary_kind
    assert binary_kind("Timestamp,DeviceName\r\n2023-08-10,pc-01\r\n".encode("utf-16-le")) is None
    assert binary_kind(b"a\tb\tc\n\x1b[31mred\x1b[0m\n") is None       # ESC sequences are text


# ------------------------------------------------------------------ cp1252 vs cp932
WESTERN = ["Müller Straße", "café crème", "naïve", "Ørsted “quoted” – 5 €", "Señor Groß"]


def test_cp1252_csv_is_detected(tmp_path):
    f = tmp_path / "fr.csv"
    write(f, [row(i, ProcessCommandLine=f"echo {w}") for i, w in enumerate(WESTERN)],
          encoding="cp1252")
    r = cli("ingest", str(f), "--case", str(tmp_path / "case"))
    assert r.returncode == 0, r.stderr
    assert only_source(tmp_path / "case")["encoding"] == "cp1252"
    out = cli(str(tmp_path / "case"), "-c", "events | project cmdline", "--format", "json")
    assert [x["cmdline"] for x in json.loads(out.stdout)] == [f"echo {w}" for w in WESTERN]


@pytest.mark.parametrize("text", ["Hélène", "Crème brûlée", "Renée", "Ångström", "façade",
                                  "Agnès Pénélope", "élève"])
def test_cp1252_that_also_decodes_as_cp932_is_cp1252(text):
    data = f"Name,Cmd\nx,{text}\n".encode("cp1252")
    data.decode("cp932")                      # a strict cp932 decoder accepts these bytes…
    d = decode(data)
    assert (d.encoding, d.text) == ("cp1252", f"Name,Cmd\nx,{text}\n")   # …but it is cp1252


@pytest.mark.parametrize("text", ["髙橋 ㈱ Ⅰ ①", "C:\\Users\\林\\データ.txt", "ﾃｽﾄ 山田太郎"])
def test_cp932_stays_cp932(text):
    d = decode(f"Name,Cmd\nx,{text}\n".encode("cp932"))
    assert (d.encoding, d.text) == ("cp932", f"Name,Cmd\nx,{text}\n")


# ------------------------------------------------------------------ undecodable bytes
def test_undecodable_byte_is_not_a_literal_backslash_x(tmp_path):
    f = tmp_path / "junk.csv"
    write(f, [row(0, FolderPath="C:\\x64\\tool.exe"), row(1, FolderPath="X")])
    data = f.read_bytes().replace(b",X,", b",C:\\\x81-d\\tool.exe,")   # 0x81: neither cp932 here nor cp1252
    f.write_bytes(data)
    r = cli("ingest", str(f), "--case", str(tmp_path / "case"))
    assert r.returncode == 0, r.stderr
    assert "1 line(s) with undecodable bytes" in only_source(tmp_path / "case")["encoding"]
    out = cli(str(tmp_path / "case"), "-c", "events | project raw.FolderPath", "--format", "json")
    paths = [x["raw.FolderPath"] for x in json.loads(out.stdout)]
    assert paths[0] == "C:\\x64\\tool.exe"                                    # literal text
    assert paths[1] == "C:\\" + safetext.undecodable(0x81) + "-d\\tool.exe"   # the byte
    assert safetext.term(paths[1]) == "C:\\⟨x81⟩-d\\tool.exe" != safetext.term(paths[0])


def test_forced_encoding_and_bom_keep_undecodable_bytes():
    d = decode(b"a,b\n\xff\xfe,1\n", "utf-8")
    assert d.text == "a,b\n" + safetext.undecodable(0xFF) + safetext.undecodable(0xFE) + ",1\n"
    d = decode(b"\xef\xbb\xbfa,b\n\x81,1\n")
    assert d.text == "a,b\n" + safetext.undecodable(0x81) + ",1\n" and d.escaped_lines == 1


def test_zeek_escaped_byte_that_is_not_utf8():
    from edrql.readers.zeek import unescape
    assert unescape("caf\\xc3\\xa9") == "café"
    assert unescape("a\\x81b") == "a" + safetext.undecodable(0x81) + "b"


def test_member_input_reads_like_a_file(tmp_path):
    import zipfile
    f = tmp_path / "a.csv"
    write(f, [row(0)])
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(f, "a.csv")
    from edrql.readers.base import expand
    [inp] = expand([str(z)])
    assert isinstance(inp, Input) and inp.member == "a.csv" and inp.read_bytes() == f.read_bytes()
    assert open(inp.local_path(), "rb").read() == f.read_bytes()


def test_percent_decoded_url_keeps_bytes_that_are_no_utf8_distinguishable():
    """url_decoded: %81 (no UTF-8) is kept as the byte, not as a literal backslash-x text."""
    import pyarrow as pa
    from edrql.normalize import percent_decode
    from edrql.safetext import undecodable
    got = percent_decode(pa.array(["http://x/%81a%41\\x81"])).to_pylist()
    assert got == ["http://x/" + undecodable(0x81) + "aA\\x81"]
