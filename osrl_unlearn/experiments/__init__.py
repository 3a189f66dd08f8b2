"""Experiments: the benchmark grid, its report, and the step-cost measurement."""
