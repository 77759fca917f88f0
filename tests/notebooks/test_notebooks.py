"""The notebooks in notebooks/ run end to end, in their FAST setting.

Each notebook is read as JSON and its code cells are exec'd in order in one
fresh namespace (tests/notebooks/nbrunner.py): no Jupyter needed. A failing
cell fails the test with the notebook's name, the cell number and its source.
The repository keeps the notebooks with their outputs stripped.
"""
import os
import re

import pytest

from nbrunner import FAST_ENV, cell_source, code_cells, load_notebook, run_notebook

NOTEBOOK_DIR = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "notebooks")
NOTEBOOKS = [
    "01_backprop_from_scratch.ipynb",
    "02_gradient_checking.ipynb",
    "03_rnn_lstm_gru.ipynb",
    "04_attention_and_transformer.ipynb",
    "05_char_gpt_shakespeare.ipynb",
    "06_fast_kernels.ipynb",
]


def _path(name):
    return os.path.normpath(os.path.join(NOTEBOOK_DIR, name))


def _present(name):
    return pytest.param(name, marks=pytest.mark.skipif(not os.path.exists(_path(name)),
                                                       reason=f"{name} not written yet"))


@pytest.mark.parametrize("name", [_present(n) for n in NOTEBOOKS])
def test_notebook_is_clean(name):
    """nbformat 4, outputs stripped, no IPython magics, FAST read in the first code cell."""
    nb = load_notebook(_path(name))
    cells = code_cells(nb)
    assert cells, f"{name}: no code cells"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                f"{name}: outputs are not stripped"
    for index, source in cells:
        magic = [line for line in source.splitlines() if re.match(r"\s*[%!]", line)]
        assert not magic, f"{name}: cell {index} uses IPython syntax: {magic}"
    first = cells[0][1]
    assert f"os.environ.get('{FAST_ENV}') == '1'" in first, \
        f"{name}: the first code cell must read FAST from {FAST_ENV}"
    assert any("FAST" in cell_source(c) for c in nb["cells"][1:]), f"{name}: FAST is never used"


@pytest.mark.parametrize("name", [_present(n) for n in NOTEBOOKS])
def test_notebook_runs(name, tmp_path, monkeypatch):
    """Every code cell runs without raising (FAST settings, Agg backend, in a temporary directory)."""
    pytest.importorskip("matplotlib")
    path = _path(name)
    monkeypatch.chdir(tmp_path)                  # anything a notebook writes lands here
    run_notebook(path, fast=True)


def test_failing_cell_names_notebook_cell_and_source(tmp_path):
    """The runner's error message points at the cell (so a red test is easy to read)."""
    import json
    from nbrunner import NotebookCellError
    nb = {"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["import os\n", "FAST = os.environ.get('SCRATCHNET_NOTEBOOK_FAST') == '1'"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["x = 1\n", "y = x / 0"]},
    ]}
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps(nb))
    before = os.environ.get(FAST_ENV)
    with pytest.raises(NotebookCellError) as info:
        run_notebook(str(path), fast=True)
    message = str(info.value)
    assert "broken.ipynb" in message and "cell 2" in message and "y = x / 0" in message
    assert "ZeroDivisionError" in message
    assert os.environ.get(FAST_ENV) == before           # the environment is restored
