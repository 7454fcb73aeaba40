"""A file read as its first bytes followed by other bytes: a truncated EVTX padded to whole
chunks with zeros, a truncated zip followed by a rebuilt central directory. Read-only,
seekable, never loaded whole."""
from __future__ import annotations

import io


class Spliced(io.RawIOBase):
    """The first ``end`` bytes of the file at ``path``, then ``tail``."""

    def __init__(self, path: str, end: int, tail: bytes):
        super().__init__()
        self._fh = open(path, "rb")
        self.end, self.tail, self.pos = end, tail, 0
        self.total = end + len(tail)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, off: int, whence: int = 0) -> int:
        self.pos = off if whence == 0 else self.pos + off if whence == 1 else self.total + off
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, b) -> int:
        n = min(len(b), self.total - self.pos)
        if n <= 0:
            return 0
        out = b""
        if self.pos < self.end:
            self._fh.seek(self.pos)
            out = self._fh.read(min(n, self.end - self.pos))
        if len(out) < n:
            t = self.pos + len(out) - self.end
            out += self.tail[t:t + n - len(out)]
        b[:len(out)] = out
        self.pos += len(out)
        return len(out)

    def close(self) -> None:
        self._fh.close()
        super().close()
