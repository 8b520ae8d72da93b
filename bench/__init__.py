"""Benchmarks: `make bench` runs them all; each module also runs alone
(`python -m bench.<name>`). Figures are printed, never asserted in tests."""
