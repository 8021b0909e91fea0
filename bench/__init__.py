"""Benchmarks and their deterministic data generators (never run as tests)."""
