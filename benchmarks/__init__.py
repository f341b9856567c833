"""Benchmarks: cold start, artifact sizes, AWS cost per payment, load through the local stack."""
