"""scratchnet.memory: glibc keeps freed arrays for reuse instead of handing back their pages."""
import ctypes
import os
import subprocess
import sys

import pytest

FAULTS_OF_A_REUSED_ARRAY = r"""
import resource, numpy as np, scratchnet.memory as m
import scratchnet
def faults_of_fresh_arrays():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        parts = [np.ones(1 << 20, np.float32) for _ in range(8)]   # 8 x 4 MiB, written
        del parts
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_fresh_arrays()
print(m.malloc_tuned(), faults_of_fresh_arrays())
"""


def _glibc():
    try:
        ctypes.CDLL(None).gnu_get_libc_version
        return sys.platform.startswith("linux")
    except (OSError, AttributeError):
        return False


def _run(env_value):
    env = dict(os.environ)
    env.pop("SCRATCHNET_MALLOC_TUNING", None)
    if env_value is not None:
        env["SCRATCHNET_MALLOC_TUNING"] = env_value
    out = subprocess.run([sys.executable, "-c", FAULTS_OF_A_REUSED_ARRAY], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not _glibc(), reason="the thresholds are glibc's")
def test_import_keeps_freed_arrays_for_reuse():
    tuned, faults = _run(None)
    assert tuned
    # 40 arrays of 4 MiB = 40,960 pages; reused heap memory faults (almost) none of them
    assert faults < 2_000, faults


@pytest.mark.skipif(not _glibc(), reason="the thresholds are glibc's")
def test_opt_out_keeps_the_system_defaults():
    tuned, faults = _run("0")
    assert not tuned
    assert faults > 20_000, faults      # each fresh mmap'd array is faulted in page by page


def test_disabled_by_environment(monkeypatch):
    from scratchnet import memory
    monkeypatch.setenv("SCRATCHNET_MALLOC_TUNING", "0")
    assert memory.keep_freed_memory() is False
