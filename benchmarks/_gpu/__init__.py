"""The parts of benchmarks/gpu.py: its measures (measures)."""
