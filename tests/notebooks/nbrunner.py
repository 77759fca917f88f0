"""Run a Jupyter notebook as a plain Python script (no Jupyter needed).

A notebook (nbformat 4) is JSON; its code cells run in order, with ``exec``,
in one fresh namespace, as a kernel would run them.  matplotlib uses the
non-interactive Agg backend, so ``plt.show()`` draws nothing and returns.
A failing cell raises ``NotebookCellError`` naming the notebook, the cell
number (counting every cell, markdown included, from 0, as Jupyter's cell
list shows them) and the cell's source.

    python tests/notebooks/nbrunner.py notebooks/*.ipynb          # full settings
    SCRATCHNET_NOTEBOOK_FAST=1 python tests/notebooks/nbrunner.py notebooks/*.ipynb
"""
import contextlib
import json
import os
import sys
import time
import traceback
import warnings

FAST_ENV = "SCRATCHNET_NOTEBOOK_FAST"


class NotebookCellError(Exception):
    """A code cell raised; the message shows where and what."""


def load_notebook(path):
    """The parsed notebook; a ValueError if it is not nbformat 4 JSON."""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    if nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path}: not an nbformat 4 notebook")
    return nb


def cell_source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def code_cells(nb):
    """(index, source) of every code cell, index counting all cells."""
    return [(i, cell_source(c)) for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"]


@contextlib.contextmanager
def _environment(fast):
    """Agg backend, FAST flag, quiet plt.show(); everything restored on exit."""
    saved = {k: os.environ.get(k) for k in (FAST_ENV, "MPLBACKEND")}
    os.environ["MPLBACKEND"] = "Agg"
    if fast is not None:
        os.environ[FAST_ENV] = "1" if fast else "0"
    plt = None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        pass
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
            yield
    finally:
        if plt is not None:
            plt.close("all")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_notebook(path, fast=None):
    """Execute the code cells of ``path`` in order; return the namespace.

    ``fast``: set ``SCRATCHNET_NOTEBOOK_FAST`` to '1' (True) or '0' (False)
    while it runs; None leaves the environment as it is.
    """
    name = os.path.basename(path)
    nb = load_notebook(path)
    namespace = {"__name__": "__main__", "__file__": os.path.abspath(path)}
    with _environment(fast):
        for index, source in code_cells(nb):
            try:
                exec(compile(source, f"<{name} cell {index}>", "exec"), namespace)
            except Exception as exc:
                tb = traceback.format_exc()
                raise NotebookCellError(
                    f"{name}: cell {index} raised {type(exc).__name__}: {exc}\n"
                    f"--- cell {index} source ---\n{source}\n--- traceback ---\n{tb}") from exc
    return namespace


def main(paths):
    total = 0.0
    for path in paths:
        start = time.perf_counter()
        run_notebook(path)
        elapsed = time.perf_counter() - start
        total += elapsed
        print(f"{os.path.basename(path):40s} {elapsed:7.1f} s", flush=True)
    print(f"{'total':40s} {total:7.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
