"""benchmarks/gemm.py measures every product of the baby-GPT step (a smoke test; nothing is judged by speed)."""
import numpy as np
import pytest


def test_the_products_are_the_51_of_a_baby_gpt_step(load_benchmark):
    bench = load_benchmark("gemm")
    cases = bench.products(np.random.default_rng(0))
    assert len(cases) == 15 and sum(c[1] for c in cases) == 51
    for label, _, a, b, ta, tb in cases:
        n_in, n_out = map(int, label.split()[0].split("->"))
        out = (a.T if ta else a) @ (b.T if tb else b)
        expected = {"y": (768, n_out), "gx": (768, n_in), "gW": (n_out, n_in)}[label.split()[1]]
        assert out.shape == expected, label


def test_scratchnet_columns_time_every_product(load_benchmark):
    bench = load_benchmark("gemm")
    from scratchnet.kernels import gemm_numba
    if not gemm_numba.available():
        pytest.skip("SciPy's BLAS thread count is not controllable here")
    cols = bench.scratchnet_columns(repeat=2)
    assert len(cols) == 3
    assert all(len(v) == 15 and all(us > 0 for us in v) for v in cols.values())


def test_table_weights_each_product_by_its_count(capsys, load_benchmark):
    bench = load_benchmark("gemm")
    one_us = {"a": [1.0] * 15, "torch.mm (2 threads)": [2.0] * 15}
    totals = bench.table({"w": [one_us, {k: [v[0] * 3] * 15 for k, v in one_us.items()}]})
    assert totals == {"a": pytest.approx(0.051), "torch.mm (2 threads)": pytest.approx(0.102)}
    assert "0.50x" in capsys.readouterr().out
