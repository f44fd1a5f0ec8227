"""Benchmarks behind ``sleepvit bench …``; numbers go in the README, never in unit tests."""
