"""Benchmarks and the synthetic data they (and the demo) run on."""
