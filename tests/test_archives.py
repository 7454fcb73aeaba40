"""Zip archives: bounded streaming, guards, bad/encrypted/nested members, O(n) listing.

Every archive is built here, byte by byte where stdlib zipfile cannot write it
(ZipCrypto encryption, a bad CRC, cut data, a 3 GiB member of NULs).
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest

from edrql.readers.base import expand

from mde_fixture import row, write
from test_cli import run

HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------ building zips
def _crc_table() -> list[int]:
    out = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = 0xEDB88320 ^ (c >> 1) if c & 1 else c >> 1
        out.append(c)
    return out


_T = _crc_table()


def zipcrypto(data: bytes, password: bytes, check: int) -> bytes:
    """PKWARE traditional encryption: 12-byte header (last byte = CRC's high byte)."""
    k = [0x12345678, 0x23456789, 0x34567890]

    def update(b):
        k[0] = (k[0] >> 8) ^ _T[(k[0] ^ b) & 0xFF]
        k[1] = ((k[1] + (k[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k[2] = (k[2] >> 8) ^ _T[(k[2] ^ (k[1] >> 24)) & 0xFF]

    for b in password:
        update(b)
    out = bytearray()
    for p in bytes(range(7, 18)) + bytes([check]) + data:
        t = (k[2] | 2) & 0xFFFF
        out.append(p ^ (((t * (t ^ 1)) >> 8) & 0xFF))
        update(p)
    return bytes(out)


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def craft_zip(path, members) -> None:
    """members: (name, plain bytes or (compressed, size, crc), dict of options).

    options: password (bytes), crc (override), cut (drop the last N compressed
    bytes), method (8 deflate, 0 stored, 99 AES marker)."""
    body, central = bytearray(), bytearray()
    for name, data, opt in members:
        method = opt.get("method", 8)
        if isinstance(data, tuple):
            comp, size, crc = data
        else:
            comp = deflate(data) if method == 8 else data
            size, crc = len(data), zlib.crc32(data)
        crc = opt.get("crc", crc)
        flags = 0
        if opt.get("cut"):
            comp = comp[:-opt["cut"]]
        if opt.get("password"):
            comp = zipcrypto(comp, opt["password"], crc >> 24)
            flags |= 1
        n = name.encode()
        off = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x5A21, crc,
                            len(comp), size, len(n), 0) + n + comp
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x5A21,
                               crc, len(comp), size, len(n), 0, 0, 0, 0, 0, off) + n
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                       len(body), 0)
    with open(path, "wb") as fh:
        fh.write(bytes(body) + bytes(central) + eocd)


def mde_csv(tmp_path, name: str, n: int, start: int = 0) -> bytes:
    f = tmp_path / name
    write(f, [row(start + i, ReportId=str(start + i)) for i in range(n)])
    return f.read_bytes()


def cli(*args, cwd=None):
    return run(*args, cwd=cwd, timeout=300)     # the big archives take a while


def sources(case) -> dict:
    r = cli("info", str(case), "--format", "json")
    assert r.returncode == 0, r.stderr
    return {s["path"]: s for s in json.loads(r.stdout)["sources"]}


def no_traceback(r) -> None:
    for text in (r.stdout, r.stderr):
        assert "Traceback" not in text and "internal error" not in text


# ------------------------------------------------------------------ bad members
def test_bad_members_are_rejected_and_the_rest_lands(tmp_path):
    good = mde_csv(tmp_path, "good.csv", 3)
    other = mde_csv(tmp_path, "x.csv", 4, start=100)
    z = tmp_path / "evidence.zip"
    craft_zip(z, [("good.csv", good, {}),
                  ("locked.csv", other, {"password": b"infected"}),
                  ("badcrc.csv", other, {"crc": zlib.crc32(other) ^ 0x5A5A}),
                  ("cut.csv", other, {"cut": 40}),
                  ("aes.csv", other, {"method": 99}),
                  ("after.csv", mde_csv(tmp_path, "after.csv", 2, start=200), {})])
    plain = tmp_path / "plain.csv"
    write(plain, [row(300 + i, ReportId=str(300 + i)) for i in range(5)])
    r = cli("ingest", str(z), str(plain), "--case", str(tmp_path / "case"))
    no_traceback(r)
    assert r.returncode == 1          # something was rejected
    err = r.stderr
    assert "locked.csv: encrypted member: pass its password with --zip-password" in err
    assert "badcrc.csv: bad CRC-32" in err
    assert "cut.csv: member data truncated or corrupt" in err
    assert "aes.csv: AES-encrypted member" in err
    src = sources(tmp_path / "case")
    assert src[f"{z}!good.csv"]["rows_stored"] == 3
    assert src[f"{z}!after.csv"]["rows_stored"] == 2
    assert src[str(plain)]["rows_stored"] == 5
    assert len(src) == 3


def test_zipcrypto_member_with_password(tmp_path):
    data = mde_csv(tmp_path, "a.csv", 4)
    z = tmp_path / "sample.zip"
    craft_zip(z, [("a.csv", data, {"password": b"infected"})])
    wrong = cli("ingest", str(z), "--case", str(tmp_path / "c1"), "--zip-password", "nope")
    no_traceback(wrong)
    assert wrong.returncode == 1 and ("wrong password" in wrong.stderr or "bad CRC" in wrong.stderr)
    r = cli("ingest", str(z), "--case", str(tmp_path / "c2"), "--zip-password", "infected")
    assert r.returncode == 0, r.stderr
    assert sources(tmp_path / "c2")[f"{z}!a.csv"]["rows_stored"] == 4
    # the query path (cached case) takes the password too
    q = cli(str(z), "--zip-password", "infected", "-c", "events | count", "--format", "csv",
            cwd=tmp_path)
    assert q.returncode == 0 and q.stdout.strip().splitlines()[-1] == "4", q.stderr


def test_aes_member_with_password(tmp_path):
    pyzipper = pytest.importorskip("pyzipper")
    z = tmp_path / "sample.zip"
    with pyzipper.AESZipFile(z, "w", compression=pyzipper.ZIP_DEFLATED,
                             encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(b"infected")
        zf.writestr("a.csv", mde_csv(tmp_path, "a.csv", 3))
        zf.writestr("b.csv", mde_csv(tmp_path, "b.csv", 2, start=10))
    assert zipfile.ZipFile(z).infolist()[0].compress_type == 99     # stdlib cannot read it
    none = cli("ingest", str(z), "--case", str(tmp_path / "c1"))
    no_traceback(none)
    assert none.returncode == 1 and none.stderr.count("pass its password with --zip-password") == 2
    wrong = cli("ingest", str(z), "--case", str(tmp_path / "c2"), "--zip-password", "nope")
    assert wrong.returncode == 1 and wrong.stderr.count("wrong password") == 2
    r = cli("ingest", str(z), "--case", str(tmp_path / "c3"), "--zip-password", "infected")
    assert r.returncode == 0, r.stderr
    src = sources(tmp_path / "c3")
    assert src[f"{z}!a.csv"]["rows_stored"] == 3 and src[f"{z}!b.csv"]["rows_stored"] == 2


def test_damaged_archive_is_one_rejection(tmp_path):
    data = mde_csv(tmp_path, "a.csv", 3)
    z = tmp_path / "a.zip"
    craft_zip(z, [("a.csv", data, {})])
    raw = z.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(raw[:len(raw) - 30])            # end of central directory gone
    bent = tmp_path / "bent.zip"
    i = raw.index(b"PK\x01\x02")
    bent.write_bytes(raw[:i] + b"XX" + raw[i + 2:])  # central directory entry corrupt
    plain = tmp_path / "plain.csv"
    write(plain, [row(50)])
    r = cli("ingest", str(cut), str(bent), str(plain), "--case", str(tmp_path / "case"))
    no_traceback(r)
    assert r.returncode == 1
    assert "bent.zip: damaged zip archive" in r.stderr
    src = sources(tmp_path / "case")
    assert src[str(plain)]["rows_stored"] == 1
    # only the member list was cut: the member is recovered from its local header
    assert src[f"{cut}!a.csv"]["rows_stored"] == 3 and "truncated zip" not in r.stderr


@pytest.mark.parametrize("streamed", [False, True])
def test_truncated_zip_keeps_its_complete_members(tmp_path, streamed):
    """A cut download: members before the cut land, the cut one is reported."""
    import io
    names = [f"t{i}.csv" for i in range(3)]
    datas = [mde_csv(tmp_path, n, 30 + 10 * i, start=100 * i) for i, n in enumerate(names)]
    z = tmp_path / "full.zip"
    with open(z, "wb") as fh:
        class NoSeek(io.RawIOBase):      # an unseekable stream: sizes in data descriptors
            def writable(self):
                return True

            def write(self, b):
                return fh.write(b)
        with zipfile.ZipFile(NoSeek() if streamed else fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, d in zip(names, datas):
                zf.writestr(n, d)
    assert bool(zipfile.ZipFile(z).infolist()[0].flag_bits & 8) == streamed
    raw = z.read_bytes()
    third = raw.index(b"PK\x03\x04", raw.index(b"t1.csv") + 6)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(raw[:third + 200])                 # inside the third member's data
    r = cli("ingest", str(cut), "--case", str(tmp_path / "case"))
    no_traceback(r)
    assert r.returncode == 1
    assert "cut.zip: truncated zip archive (no member list): 2 member(s) recovered" in r.stderr
    assert "t2.csv: cut by the end of the archive" in r.stderr
    src = sources(tmp_path / "case")
    assert [src[f"{cut}!{n}"]["rows_stored"] for n in names[:2]] == [30, 40] and len(src) == 2


# ------------------------------------------------------------------ nesting
def test_nested_zips_are_read_to_the_depth_limit(tmp_path):
    from edrql.readers import archive
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("deep/a.csv", mde_csv(tmp_path, "a.csv", 2))
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(inner, "logs/inner.zip")
        zf.writestr("b.csv", mde_csv(tmp_path, "b.csv", 3, start=10))
    # archive.MAX_NESTING + 1 levels: the innermost zip is not opened
    level = inner
    for k in range(archive.MAX_NESTING):
        nxt = tmp_path / f"level{k}.zip"
        with zipfile.ZipFile(nxt, "w") as zf:
            zf.write(level, f"l{k}.zip")
        level = nxt
    r = cli("ingest", str(outer), str(level), "--case", str(tmp_path / "case"))
    no_traceback(r)
    src = sources(tmp_path / "case")
    assert src[f"{outer}!logs/inner.zip!deep/a.csv"]["rows_stored"] == 2
    assert src[f"{outer}!b.csv"]["rows_stored"] == 3
    assert src[f"{outer}!logs/inner.zip!deep/a.csv"]["abspath"] == \
        f"{outer}!logs/inner.zip!deep/a.csv"
    assert f"nested more than {archive.MAX_NESTING} levels deep" in r.stderr
    assert r.returncode == 1 and len(src) == 2


# ------------------------------------------------------------------ many members
def test_many_members_open_the_archive_once(tmp_path, monkeypatch):
    from edrql.readers import archive
    z = tmp_path / "many.zip"
    data = mde_csv(tmp_path, "m.csv", 1)
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3000):
            zf.writestr(f"m{i:04d}.csv", data)
    opens = []
    classes = [zipfile.ZipFile]
    try:
        import pyzipper
        classes.append(pyzipper.zipfile.ZipFile)
    except ImportError:
        pass
    for cls in classes:
        def counting(self, *a, _init=cls.__init__, **kw):
            opens.append(a[0] if a else kw.get("file"))
            _init(self, *a, **kw)
        monkeypatch.setattr(cls, "__init__", counting)
    inputs = expand([str(z)])
    assert len(inputs) == 3000
    for inp in inputs:                      # what ingest does with each member
        assert inp.head(4096).startswith(b"Timestamp")
        assert len(inp.sha256()) == 64 and inp.read_bytes() == data
    assert len(opens) <= 2                  # today: three opens per member
    live = [f for f in os.listdir(inputs[0].archive._tmp)]
    assert len(live) <= archive.KEEP_EXTRACTED   # extracted members do not pile up on disk


def test_many_members_land_via_cli(tmp_path):
    z = tmp_path / "many.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(300):
            zf.writestr(f"m{i:04d}.csv", mde_csv(tmp_path, "m.csv", 1, start=i))
    r = cli("ingest", str(z), "--case", str(tmp_path / "case"), "-q")
    assert r.returncode == 0, r.stderr
    src = sources(tmp_path / "case")
    assert len(src) == 300 and sum(s["rows_stored"] for s in src.values()) == 300


# ------------------------------------------------------------------ guards and memory
def _nul_bomb(header: bytes, gib: int = 3) -> tuple[bytes, int, int]:
    """A deflated member of a CSV header plus `gib` GiB of NULs, built without
    inflating anything (a full-flushed zero block repeats byte for byte)."""
    block = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(header + block) + c.flush(zlib.Z_FULL_FLUSH)
    rep = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(block) + c.flush(zlib.Z_FULL_FLUSH) == rep
    n = (gib << 10) - 1
    comp = first + rep * n + c.flush()
    crc = zlib.crc32(header)
    for _ in range(n + 1):
        crc = zlib.crc32(block, crc)
    size = len(header) + ((n + 1) << 20)
    return comp, size, crc


PEAK_RSS_SCRIPT = ("import resource, subprocess, sys; "
                   "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                   "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) "
                   "+ '\\n' + str(r.returncode) + '\\n' + r.stderr)")


def test_zip_bomb_is_refused_with_bounded_memory(tmp_path):
    header = ",".join(["Timestamp", "DeviceName", "ActionType", "ProcessCommandLine"]).encode() + b"\n"
    bomb = _nul_bomb(header)
    z = tmp_path / "bomb.zip"
    craft_zip(z, [("huge.csv", bomb, {}), ("ok.csv", mde_csv(tmp_path, "ok.csv", 2), {})])
    assert z.stat().st_size < 8 << 20 and bomb[1] > 3 << 30
    r = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT, sys.executable, "-m", "edrql",
                        "ingest", str(z), "--case", str(tmp_path / "case")],
                       capture_output=True, text=True, timeout=300)
    peak_kib, rc, err = r.stdout.split("\n", 2)
    assert "Traceback" not in err
    assert int(rc) == 1 and "huge.csv: member inflates" in err and "compression-ratio guard" in err
    assert int(peak_kib) < 400 * 1024, f"peak RSS {int(peak_kib) >> 10} MiB"   # today: 5.4 GB
    assert sources(tmp_path / "case")[f"{z}!ok.csv"]["rows_stored"] == 2


def test_member_larger_than_declared_is_not_inflated_past_it(tmp_path):
    data = mde_csv(tmp_path, "a.csv", 50)
    comp = deflate(data)
    z = tmp_path / "liar.zip"
    craft_zip(z, [("liar.csv", (comp, 100, zlib.crc32(data[:100])), {})])  # says 100 bytes
    [inp] = expand([str(z)])
    assert inp.read_bytes() == data[:100]      # zipfile stops at the declared size (CRC ok)


def test_guards_from_declared_sizes():
    from edrql.readers import archive
    info = zipfile.ZipInfo("x")
    info.file_size, info.compress_size = archive.MAX_MEMBER_BYTES + 1, archive.MAX_MEMBER_BYTES
    z = object.__new__(archive.ZipSource)
    assert "limit for zip members" in z.guard(info)
    info.file_size, info.compress_size = archive.RATIO_FLOOR_BYTES + 1, 1000
    assert "compression-ratio guard" in z.guard(info)
    info.file_size, info.compress_size = archive.RATIO_FLOOR_BYTES - 1, 1000   # small: no ratio check
    assert z.guard(info) is None
    info.file_size = 100 << 20
    info.compress_size = info.file_size // (archive.MAX_RATIO - 1)        # a real log's ratio
    assert z.guard(info) is None


@pytest.mark.skipif(not os.environ.get("EDRQL_SLOW_TESTS"), reason="1 GiB member: set EDRQL_SLOW_TESTS=1")
def test_one_gib_member_streams(tmp_path):
    import base64
    z = tmp_path / "big.zip"
    blob = base64.b64encode(os.urandom(750_000))
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open("big.csv", "w", force_zip64=True) as fh:
            write(tmp_path / "h.csv", [])
            fh.write((tmp_path / "h.csv").read_bytes())
            for i in range(1100):
                fh.write(f"2023-08-10T14:00:{i % 60:02d}Z,{'a' * 40},pc-01,ProcessCreated,a.exe,"
                         f"C:\\a.exe,{1000 + i},".encode() + blob + b"," +
                         ",".join(["", "b.exe", "", "4", "", "", "", "", "", "", str(i)]).encode() + b"\r\n")
    r = cli("ingest", str(z), "--case", str(tmp_path / "case"), "-q")
    assert r.returncode == 0, r.stderr
    assert sources(tmp_path / "case")[f"{z}!big.csv"]["rows_stored"] == 1100
