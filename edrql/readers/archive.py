"""Zip archives: members listed once, extracted as bounded streams, guarded.

An archive is opened once and its central directory read once, so listing and
reading n members is O(n). A member is never held in memory: it is streamed
(1 MiB at a time) to a private temporary file, hashed on the way, and then read
like any other file; at most :data:`KEEP_EXTRACTED` extracted members per
archive stay on disk (older ones are deleted and re-extracted if asked for
again). Guards, checked from the declared sizes before a byte is inflated and
again while streaming:

* :data:`MAX_MEMBER_BYTES` — a member larger than this is rejected;
* :data:`MAX_RATIO` — a member above :data:`RATIO_FLOOR_BYTES` that inflates to
  more than this many times its compressed size is rejected (a zip bomb);
* :data:`MAX_NESTING` — zips inside zips are read to this depth;
* free temporary space — a member that would not fit is rejected (``TMPDIR``).

A member that cannot be read (encrypted without the right password, bad CRC,
truncated or corrupt data, unsupported compression, a guard) raises
:class:`SourceError` naming the member and the reason; the other members are
unaffected. Member names are never used as file-system paths.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import weakref
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass

from .errors import SourceError

try:   # AES members; stdlib zipfile (ZipCrypto only) when it is not installed
    import pyzipper
    _ZIPFILE = pyzipper.AESZipFile
    _BAD_ZIP = (zipfile.BadZipFile, pyzipper.BadZipFile)
except ImportError:  # pragma: no cover - pyzipper is a dependency
    pyzipper = None
    _ZIPFILE = zipfile.ZipFile
    _BAD_ZIP = (zipfile.BadZipFile,)

MAX_MEMBER_BYTES = 4 << 30      # 4 GiB inflated, per member
MAX_RATIO = 200                 # inflated / compressed, for members above the floor
RATIO_FLOOR_BYTES = 16 << 20    # smaller members are not ratio-checked (size is bounded anyway)
MAX_NESTING = 4                 # a zip in a zip in a zip in a zip; deeper ones are not read
KEEP_EXTRACTED = 2              # extracted members kept on disk per archive
TEMP_MARGIN_BYTES = 64 << 20    # free temp space left after an extraction
BLOCK = 1 << 20
ZIP_MAGIC = b"PK\x03\x04"
_AES = 99                       # WinZip AES "compression method"


@dataclass
class Extracted:
    path: str
    sha256: str
    size: int


def _cleanup(zf, tmpdir: str, owned: str | None) -> None:
    zf.close()
    shutil.rmtree(tmpdir, ignore_errors=True)
    if owned:
        _remove(owned)


class ZipSource:
    """One zip archive opened once; members extracted on demand (thread-safe)."""

    def __init__(self, path: str, display: str, password: str | None = None, depth: int = 1,
                 owned: bool = False, source=None):
        self.path, self.display, self.depth = path, display, depth
        self.password_text = password
        self.password = password.encode("utf-8") if password else None
        # raises BadZipFile / OSError: callers handle. `source`: a file object standing
        # for the archive (a truncated one with its rebuilt member list)
        self._zf = _ZIPFILE(source if source is not None else path)
        self._tmp = tempfile.mkdtemp(prefix="edrql-zip-")
        self._lock = threading.Lock()
        self._done: OrderedDict[int, Extracted] = OrderedDict()
        self._failed: dict[int, str] = {}
        self._seq = 0
        weakref.finalize(self, _cleanup, self._zf, self._tmp, path if owned else None)

    def members(self) -> list[zipfile.ZipInfo]:
        return [i for i in self._zf.infolist() if not i.is_dir()]

    def label(self, info: zipfile.ZipInfo) -> str:
        return f"{self.display}!{info.filename}"

    # ------------------------------------------------------------ reading
    def starts_with_zip(self, info: zipfile.ZipInfo) -> bool:
        """The member's first bytes are a zip local header (read 4 bytes, nothing kept)."""
        if info.file_size < 22 or self.guard(info) or info.compress_type == _AES:
            return False
        try:
            with self._zf.open(info, pwd=self.password) as fh:
                return fh.read(4) == ZIP_MAGIC
        except Exception:   # noqa: BLE001 - unreadable: reported when it is read
            return False

    def guard(self, info: zipfile.ZipInfo) -> str | None:
        """Why the member is refused from its declared sizes alone, or None."""
        size, packed = info.file_size, max(info.compress_size, 1)
        if size > MAX_MEMBER_BYTES:
            return (f"member inflates to {_mib(size)}, over the {_mib(MAX_MEMBER_BYTES)} limit "
                    "for zip members: extract it and ingest the file directly")
        if size > RATIO_FLOOR_BYTES and size > MAX_RATIO * packed:
            return (f"member inflates {size // packed}:1 ({_mib(packed)} → {_mib(size)}), over the "
                    f"{MAX_RATIO}:1 compression-ratio guard (a zip bomb?); not read")
        return None

    def extract(self, info: zipfile.ZipInfo) -> Extracted:
        """The member as a private temp file (hashed); SourceError with the reason if unreadable."""
        key = info.header_offset        # unique per entry, even for two entries of one name
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            if key in self._failed:
                raise SourceError(self._failed[key])
            try:
                got = self._extract(info)
            except SourceError as e:
                self._failed[key] = str(e)
                raise
            self._done[key] = got
            while len(self._done) > KEEP_EXTRACTED:
                _, old = self._done.popitem(last=False)
                _remove(old.path)
            return got

    def take(self, info: zipfile.ZipInfo) -> str:
        """Extract a member to a temp file the caller owns (a nested archive)."""
        with self._lock:
            return self._extract(info, own=True).path

    def _extract(self, info: zipfile.ZipInfo, own: bool = False) -> Extracted:
        name = self.label(info)
        why = self.guard(info)
        if why:
            raise SourceError(f"{name}: {why}")
        free = shutil.disk_usage(self._tmp).free
        if info.file_size + TEMP_MARGIN_BYTES > free:
            raise SourceError(f"{name}: needs {_mib(info.file_size)} of temporary space, "
                              f"{_mib(free)} free in {self._tmp}: set TMPDIR to a larger disk")
        if own:
            fd, path = tempfile.mkstemp(prefix="edrql-zip-")
            os.close(fd)
        else:
            self._seq += 1
            path = os.path.join(self._tmp, f"m{self._seq}")
        h, n, src = hashlib.sha256(), 0, None
        limit = min(MAX_MEMBER_BYTES, max(info.file_size, 0))
        try:
            with self._zf.open(info, pwd=self.password) as src, open(path, "wb") as out:
                while chunk := src.read(BLOCK):
                    n += len(chunk)
                    if n > limit:
                        raise SourceError(f"{name}: member inflates past its declared size "
                                          f"({_mib(info.file_size)}): damaged or crafted; not read")
                    h.update(chunk)
                    out.write(chunk)
        except SourceError:
            _remove(path)
            raise
        except Exception as e:   # noqa: BLE001 - every zipfile/zlib failure becomes a reason
            _remove(path)
            # bytes inflated when it failed: ZipExtFile's count of what is left, if it has one
            left = getattr(src, "_left", None)
            done = info.file_size - left if isinstance(left, int) else n
            raise SourceError(f"{name}: {self._reason(info, e, done)}") from None
        return Extracted(path, h.hexdigest(), n)

    def _reason(self, info: zipfile.ZipInfo, e: Exception, n: int) -> str:
        msg = str(e)
        short = n < info.file_size
        if info.compress_type == _AES:   # the AES marker without a readable AES header
            return ("AES-encrypted member " + ("without a valid AES header: damaged" if pyzipper else
                    "and the 'pyzipper' package is not installed (pip install pyzipper)"))
        if isinstance(e, RuntimeError) and "Bad password" in msg:
            return "encrypted member: wrong password (--zip-password)"
        if isinstance(e, RuntimeError) and "password" in msg and "requir" in msg:
            return "encrypted member: pass its password with --zip-password PASS"
        if isinstance(e, (EOFError, zlib.error)) or (short and isinstance(e, _BAD_ZIP)):
            return (f"member data truncated or corrupt: {n:,} of {info.file_size:,} bytes inflated "
                    f"({type(e).__name__}: {msg or 'unexpected end'})")
        if isinstance(e, _BAD_ZIP) and "HMAC" in msg:
            return "AES authentication code mismatch: the member's data is damaged"
        if isinstance(e, _BAD_ZIP) and "CRC" in msg:
            return ("bad CRC-32: the member's data is damaged"
                    + (" (or the --zip-password is wrong)" if info.flag_bits & 1 else ""))
        if isinstance(e, NotImplementedError):
            return f"unsupported zip feature: {msg}"
        return f"member cannot be read ({type(e).__name__}: {msg})"


def open_zip(path: str, display: str, password: str | None, depth: int,
             owned: bool = False) -> ZipSource:
    try:
        return ZipSource(path, display, password, depth, owned)
    except (*_BAD_ZIP, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        if owned:
            _remove(path)
        raise SourceError(f"{display}: damaged zip archive: its member list cannot be read "
                          f"({e})") from None


def open_truncated(path: str, display: str, password: str | None,
                   depth: int) -> tuple[ZipSource | None, list[str]]:
    """The complete members of a zip whose end is missing, and what was lost."""
    from .spliced import Spliced
    from .ziprepair import recover
    try:
        got = recover(path, MAX_MEMBER_BYTES)
    except OSError as e:
        return None, [f"cannot be read ({e})"]
    if not got.members:
        return None, got.lost or ["no complete member"]
    try:
        return ZipSource(path, display, password, depth,
                         source=Spliced(path, got.end, got.directory)), got.lost
    except (*_BAD_ZIP, OSError, ValueError, EOFError) as e:
        return None, got.lost + [f"its members cannot be rebuilt ({e})"]


def starts_like_zip(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == ZIP_MAGIC
    except OSError:
        return False


def is_zip(path: str) -> bool:
    """A zip archive by content: the local-header magic and a readable end record."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != ZIP_MAGIC:
                return False
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB" if n < (1 << 30) else f"{n / (1 << 30):,.2f} GiB"
