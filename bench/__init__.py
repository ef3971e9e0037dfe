"""Benchmark harness of rxrank: ``python -m bench [--quick] [--only ...] [--repeats N]``.

Every figure is a ratio measured in the same run (peers interleaved repeat by repeat) with the median
of several repeats, because the machines this runs on are shared and noisy. Results land in
BENCHMARKS.md below a marker; the hand-written intro above it is kept.
"""
