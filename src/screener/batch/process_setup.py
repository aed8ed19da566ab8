"""Set up a process that exists to run one `screener batch` command.

`prepare()` is called by the `screener` program (`cli.main`) before a batch run,
never by the library: both steps change process-wide behaviour.

* pandas stays out unless the input needs it (`lazy_pandas.defer_pandas`).
* glibc's allocator keeps freed memory instead of returning it to the system
  after every block: each block allocates the same large arrays again, and
  fetching fresh pages from the kernel cost ~40,000 page faults and ~5 % of the
  wall time on a million patients. Memory stays bounded by the block size (the
  peak is unchanged; only the release is deferred). Other C libraries are left
  alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

from .lazy_pandas import defer_pandas

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (True when it accepted)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # Arrays up to 32 MB (glibc's largest allowed threshold) come from the heap, not mmap;
    # the heap is trimmed only past 1 GiB and grows 64 MB at a time.
    return all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20)))


def prepare() -> None:
    """Prepare this process for one batch run (see the module docstring)."""
    defer_pandas()
    keep_freed_memory()
