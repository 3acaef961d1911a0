"""Peak resident memory of this process, per phase.

On Linux the kernel keeps the peak (VmHWM in /proc/self/status) and lets a process reset it by
writing 5 to /proc/self/clear_refs, so a phase's own peak can be measured even when phases run one
after another in one process (ZenML's local orchestrator runs every step in the caller's process).
Elsewhere the reset is unavailable and the peak is the process's peak so far (getrusage).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")
RESET_PEAK = "5"  # clear_refs command: reset the peak RSS to the current RSS


def reset_peak_rss() -> bool:
    """Start a new peak measurement; False where the platform cannot (the peak then spans the process)."""
    try:
        CLEAR_REFS.write_text(RESET_PEAK)
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory in MiB since the last reset (or since the process started)."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, kB elsewhere
