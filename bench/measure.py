"""Timing and peak-memory helpers, interleaved repeats, and a description of the machine.

Peak memory is the increase of the process's resident set size (RSS) over its value just before the
measured call. Before each call freed heap memory is handed back to the system (glibc
``malloc_trim``), so that a call reusing memory an earlier one freed is still charged for it. On Linux the kernel's own high-water mark (``VmHWM``) is reset before each call
(``/proc/self/clear_refs``) and read after it, so the peak is exact and costs nothing; elsewhere a
thread samples RSS with psutil every few milliseconds (which can miss short spikes).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as _dt
import gc
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "Contention",
    "Peer",
    "PeakRSS",
    "SelfTimed",
    "Timings",
    "interleaved",
    "machine_info",
    "memory_method",
    "timed",
    "wait_for_quiet",
]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc only)
    except (OSError, AttributeError, TypeError):
        return None
    return libc


_LIBC = _load_libc()


def _trim() -> None:
    """Return freed heap memory to the system (glibc), so RSS counts only live memory."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _hwm() -> int | None:
    """The kernel's peak RSS of this process in bytes (Linux), or None."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _hwm() is not None


class PeakRSS:
    """Context manager: ``.increase`` = peak RSS during the block minus RSS at its start (bytes)."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.increase = 0
        self.method = ""

    def __enter__(self) -> PeakRSS:
        gc.collect()
        _trim()
        self._kernel = _reset_hwm()
        self.base = _rss()
        self._peak = self.base
        if not self._kernel:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        self.method = "VmHWM" if self._kernel else "sampled"
        return self

    def _sample(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            self._peak = max(self._peak, proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        if self._kernel:
            self._peak = max(self._peak, _hwm() or 0)
        else:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, _rss())
        self.increase = max(self._peak - self.base, 0)


def memory_method() -> str:
    """How :class:`PeakRSS` measures here (for the report)."""
    if _reset_hwm():
        return "kernel high-water mark VmHWM, reset through /proc/self/clear_refs"
    return "RSS sampled every 2 ms by a psutil thread"


def _busy() -> float:
    """CPU seconds the whole machine has been busy (all cores; steal = the hypervisor's)."""
    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own() -> float:
    """CPU seconds of this process and its waited-for children (subprocess workers)."""
    c = psutil.Process().cpu_times()
    return c.user + c.system + c.children_user + c.children_system


class Contention:
    """Context manager: ``.others`` = cores kept busy by anything but this process during the block.

    0 on a quiet machine; 1 means one of the cores was taken by someone else on average (kernel
    tick resolution, so rough for blocks shorter than ~0.1 s).
    """

    def __enter__(self) -> Contention:
        self._t, self._busy, self._own = time.perf_counter(), _busy(), _own()
        self.others = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t
        foreign = (_busy() - self._busy) - (_own() - self._own)
        self.others = max(foreign / wall, 0.0) if wall > 0 else 0.0


# Before each measured call, wait up to this many seconds for other processes to use less than
# QUIET_BELOW cores (0: never wait). Set by ``--wait-quiet``.
WAIT_QUIET = 0.0
QUIET_BELOW = 0.5


def wait_for_quiet(max_wait: float, below: float = QUIET_BELOW, window: float = 1.0) -> float:
    """Sleep in ``window`` steps until others use < ``below`` cores or ``max_wait`` passed."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait:
        with Contention() as c:
            time.sleep(window)
        if c.others < below:
            break
    return time.perf_counter() - t0


def timed(fn: Callable[[], Any]) -> tuple[float, int, float, Any]:
    """Run ``fn()`` once: (wall seconds, peak RSS increase in bytes, others' cores, its result)."""
    with PeakRSS() as mem, Contention() as busy:
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
    return seconds, mem.increase, busy.others, result


@dataclass
class SelfTimed:
    """What a peer returns when it measured itself (e.g. in a subprocess): used instead of ours.

    ``seconds=None`` marks a failed repeat (a crashed subprocess); ``result`` then says why.
    """

    seconds: float | None
    peak: int | None
    result: Any = None


@dataclass
class Peer:
    """One implementation under test: ``fn()`` does the whole measured work and returns a result."""

    name: str
    fn: Callable[[], Any]
    repeats: int


@dataclass
class Timings:
    """Repeats of one peer: wall seconds and peak RSS increases; ``result`` of the first repeat.

    ``failures`` holds why repeats failed (self-timed peers only); they have no time.
    """

    name: str
    seconds: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    others: list[float] = field(default_factory=list)
    waited: float = 0.0
    result: Any = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def peak_mib(self) -> float:
        return statistics.median(self.peaks) / 2**20 if self.peaks else float("nan")

    @property
    def others_cores(self) -> float:
        """Median over the repeats of the cores other processes used meanwhile."""
        return statistics.median(self.others) if self.others else float("nan")

    def stats(self, base: float) -> dict[str, Any]:
        """The row fields every benchmark table shares; ``base`` is rxrank's median time."""
        return {
            "repeats": len(self.seconds),
            "failures": list(self.failures),
            "time_s": self.median,
            "time_min_s": min(self.seconds, default=float("nan")),
            "time_max_s": max(self.seconds, default=float("nan")),
            "peak_mib": self.peak_mib,
            "others_cores": self.others_cores,
            "time_vs_rxrank": self.median / base,
        }


def interleaved(peers: list[Peer], *, log: Callable[[str], None] = print) -> dict[str, Timings]:
    """Run the peers' repeats interleaved (A B A B ...) so that drift on a shared machine hits all.

    A peer with fewer repeats drops out once it has them all. The first repeat's result is kept for
    the equality checks; later results are dropped before the next measurement.
    """
    out = {p.name: Timings(p.name) for p in peers}
    for r in range(max(p.repeats for p in peers)):
        for p in peers:
            if r >= p.repeats:
                continue
            t = out[p.name]
            if WAIT_QUIET > 0:
                t.waited += wait_for_quiet(WAIT_QUIET)
            seconds, peak, others, result = timed(p.fn)
            if isinstance(result, SelfTimed):
                seconds, peak, result = result.seconds, result.peak, result.result
            t.others.append(others)
            if seconds is None:
                t.failures.append(str(result))
                log(f"    {p.name}: repeat {r + 1}/{p.repeats}: FAILED: {result}")
                continue
            t.seconds.append(seconds)
            t.peaks.append(peak)
            if t.result is None:
                t.result = result
            del result
            log(
                f"    {p.name}: repeat {r + 1}/{p.repeats}: {seconds:.3f} s, "
                f"+{peak / 2**20:.0f} MiB, others using {others:.1f} cores"
            )
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(command: str) -> dict[str, Any]:
    """Cores, RAM, library versions, BLAS (threadpoolctl), date, git commit and the command."""
    import numpy
    import pandas
    import scipy
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS so threadpoolctl lists it)
    import sklearn
    from threadpoolctl import threadpool_info

    import rxrank

    blas = [
        {k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        | {"library": Path(lib.get("filepath", "")).name}
        for lib in threadpool_info()
    ]
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_gib": psutil.virtual_memory().total / 2**30,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": {
            "rxrank": getattr(rxrank, "__version__", "?"),
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "pandas": pandas.__version__,
        },
        "blas": blas,
        "commit": commit,
        "executable": sys.executable,
    }
