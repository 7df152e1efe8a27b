"""Benchmarks and load harnesses (run each as `python bench/<name>.py`; `bench/run.py` runs all)."""
