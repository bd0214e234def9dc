"""Entry points for people (``make demo``) and the harness the demo and the benchmarks share."""
