"""Benchmarks (``make bench``): print figures and write ``bench/report.md``."""
