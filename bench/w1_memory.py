"""Peak resident memory of one run, on Linux: reset the process's high-water mark
(``/proc/self/clear_refs`` ← 5), run, read ``VmHWM`` from ``/proc/self/status``.

Where the reset is not possible the peak is ``ru_maxrss``, the high-water mark since the process
started, and :func:`reset_peak` says so by returning False.
"""

from __future__ import annotations

import re
import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_mb(field: str) -> float | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def rss_mb() -> float | None:
    """Resident memory now (MB)."""
    return _status_mb("VmRSS")


def reset_peak() -> bool:
    """Set the high-water mark to the current RSS; False if the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_mb() -> float:
    """Highest resident memory since the last :func:`reset_peak` (MB)."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
