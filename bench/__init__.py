"""Benchmark of the template's image against the seed recipe and a naive build (see README.md)."""
