"""Fixtures for the benchmark smoke tests: a script of benchmarks/ loaded as a module."""
import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def load_benchmark():
    """load_benchmark("gpt") -> benchmarks/gpt.py as a fresh module (its ``main`` not run)."""
    def load(name):
        spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
