"""One writer per case: an exclusive lock on ``CASE/.edrql.lock`` and a journal of what
the writer is about to create.

Every command that changes a case (ingest, the cached-case ingest, ``check --repair``)
holds the lock from before it reads the manifest until after it committed; a second
writer waits (saying who holds the lock) and then works from the manifest as the first
one left it. Readers take no lock: the manifest is replaced atomically and a committed
segment is never deleted, so a reader always sees one whole commit.

Before the writer creates a segment it appends the segment's name to the journal
``CASE/.edrql-pending`` (fsynced). A journal name that the manifest does not name is
work a killed writer never committed: the next writer deletes it. A segment the manifest
does not name and the journal does not list is *not* deleted by any writer (it may hold
the only copy of records whose manifest was lost); ``edrql check`` reports it.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows): it is
released when the process ends, however it ends, so a crashed writer never leaves a
stale lock behind. It may not work on network file systems that do not support locks.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time

LOCK = ".edrql.lock"
JOURNAL = ".edrql-pending"
_WIN_BYTE = 1 << 20          # Windows locks a byte range: one far past the holder's note

try:
    import fcntl
except ImportError:                      # Windows
    fcntl = None
    import msvcrt


class LockError(Exception):
    pass


class CaseLock:
    """The exclusive writer lock of one case folder (not re-entrant)."""

    def __init__(self, root: str):
        self.root = root
        self.path = os.path.join(root, LOCK)
        self.fd: int | None = None

    def acquire(self, notify=None, wait: bool = True) -> None:
        """Take the lock; when another process holds it, call ``notify(message)`` once and
        wait for it (Ctrl-C stops waiting), or raise LockError when ``wait`` is false."""
        told = False
        while True:
            try:
                os.makedirs(self.root, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise LockError(f"{self.root}: cannot lock the case for writing "
                                f"({e.strerror}); is the folder writable?") from None
            try:
                if not _try_lock(fd):
                    msg = (f"{self.root}: another edrql is writing this case "
                           f"({self.holder()}); waiting for it to finish (Ctrl-C to stop)")
                    if not wait:
                        raise LockError(msg.split("; waiting")[0])
                    if notify and not told:
                        notify(msg)
                        told = True
                    _lock(fd)
                if _same_file(fd, self.path):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)                  # the holder removed the file (an abandoned new case)
        self.fd = fd
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "command": " ".join(os.path.basename(a) for a in sys.argv[:2])})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode(), 0) if hasattr(os, "pwrite") else \
                (os.lseek(fd, 0, os.SEEK_SET), os.write(fd, info.encode()))
        except OSError:
            pass

    def remove(self) -> None:
        """(Holder only.) Delete the lock file before releasing it: a waiting writer notices
        that it holds a lock on a removed file and locks afresh."""
        try:
            os.remove(self.path)
        except OSError:
            pass

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if fcntl:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            else:
                os.lseek(self.fd, _WIN_BYTE, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.close(self.fd)
            self.fd = None

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (best effort, for the message)."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                info = json.loads(fh.read().strip() or "{}")
            return f"pid {info['pid']} on {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _try_lock(fd: int) -> bool:
    try:
        if fcntl:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, _WIN_BYTE, os.SEEK_SET)      # a byte past the holder's note
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except (BlockingIOError, PermissionError):
        return False
    except OSError as e:
        if fcntl is None and e.errno in (13, 36):     # EACCES / EDEADLOCK: held
            return False
        raise


def _lock(fd: int) -> None:
    if fcntl:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while not _try_lock(fd):
        time.sleep(0.2)


# ------------------------------------------------------------------ the journal
def journal_add(root: str, rel: str) -> None:
    """Record, durably, that the writer is about to create ``rel`` (before it exists)."""
    with open(os.path.join(root, JOURNAL), "a", encoding="utf-8") as fh:
        fh.write(rel + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def journal_names(root: str) -> list[str]:
    try:
        with open(os.path.join(root, JOURNAL), encoding="utf-8", errors="replace") as fh:
            return [line.strip() for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def journal_clear(root: str) -> None:
    try:
        os.remove(os.path.join(root, JOURNAL))
    except FileNotFoundError:
        pass


def fsync_path(path: str, strict: bool = True) -> None:
    """Flush a file's (or a directory's: a rename in it) data to disk. ``strict``: errors
    are raised; else it is a no-op where the OS cannot do it (directories on some systems)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if strict:
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Make a rename in ``path`` durable (POSIX; a no-op where directories cannot be opened)."""
    fsync_path(path, strict=False)


# One write() of hundreds of MB can take many seconds on some kernels (measured here: a 512 MB
# write 8.4 s, the same bytes in 64 MB writes 0.13 s): Arrow writes each buffer in one call,
# and a segment's family dictionary can be that big. Every Arrow file edrql writes goes
# through this sink, which hands the OS at most WRITE_CHUNK bytes at a time.
WRITE_CHUNK = 32 << 20


class _ChunkedWrites:
    def __init__(self, path: str):
        self._fh = open(path, "wb", buffering=0)
        self.closed = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += self._fh.write(view[done:done + WRITE_CHUNK])
        return done

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._fh.close()
        self.closed = True


def open_sink(path: str):
    """A pyarrow output stream on a new file at ``path`` that writes in bounded chunks."""
    import pyarrow as pa
    return pa.PythonFile(_ChunkedWrites(path), mode="w")
