"""Allocator settings for large columnar work, applied once at start-up.

Fresh memory costs a page fault per page on first touch, and on the small shared
VMs edrql is measured on, faults dominate: multi-GB ingests and lineage builds
spent as much time in the kernel as in user code. Two settings keep memory for
reuse instead of handing it back and faulting it in again:

* for ingest, Arrow's allocator (mimalloc) may use large OS pages — set before
  pyarrow is first imported. It cut the kernel time of a 1.2 GB ingest by a third,
  but makes short jobs (a lineage build) stall now and then, so only ingest asks;
* glibc's malloc (used by numpy) serves large blocks from its heap rather than
  fresh ``mmap`` regions, and does not trim freed memory back to the OS.
"""
from __future__ import annotations

import ctypes
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def tune(large_pages: bool = False) -> None:
    if large_pages:
        os.environ.setdefault("MIMALLOC_ALLOW_LARGE_OS_PAGES", "1")
    if os.environ.get("EDRQL_NO_MALLOPT"):
        return
    try:
        # the process's own symbols, libc's among them: no ctypes.util.find_library, which
        # imports subprocess and tempfile and runs ldconfig (~15 ms of every start)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):      # not glibc (macOS, musl): nothing to tune
        return
    mallopt(_M_MMAP_THRESHOLD, 1 << 30)    # blocks up to 1 GiB come from the heap
    mallopt(_M_TRIM_THRESHOLD, 1 << 31)    # keep up to 2 GiB of freed heap for reuse
