"""sqsq benchmarks: scripts that print figures (not part of the pass/fail test suite). Run ``python bench/run.py``."""
