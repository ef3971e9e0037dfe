"""Subprocess worker for measurements that may crash the interpreter.

``python -m bench.worker corrcoef SAMPLES GENES SEED``: builds the same synthetic matrix as the
correlation benchmark, runs ``np.corrcoef`` once and prints ``{"seconds": s, "peak": bytes}`` as the
last line of stdout. A segfault kills only this process; the parent reports it.
``python -m bench.worker crash ...`` kills itself with SIGSEGV, to test that reporting.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

from bench.measure import PeakRSS
from bench.synth import expression


def main(argv: list[str]) -> int:
    what, samples, genes, seed = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    if what == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if what != "corrcoef":
        print(f"unknown measurement {what!r}", file=sys.stderr)
        return 2
    x = expression(samples, genes, seed=seed).astype(np.float64)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        r = np.corrcoef(x, rowvar=False)
        seconds = time.perf_counter() - t0
    del r
    print(json.dumps({"seconds": seconds, "peak": mem.increase}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
