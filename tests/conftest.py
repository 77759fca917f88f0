"""Test-suite settings shared by every test directory.

Hypothesis runs derandomized: each property test draws the same examples on
every run and every machine, so a CI run cannot fail on an example that the
previous run never tried (a failure always reproduces). Set
``SCRATCHNET_HYPOTHESIS_RANDOM=1`` to explore fresh examples instead.
"""
import os

from hypothesis import settings

settings.register_profile("scratchnet-deterministic", derandomize=True, database=None)
settings.register_profile("scratchnet-random")
settings.load_profile("scratchnet-random" if os.environ.get("SCRATCHNET_HYPOTHESIS_RANDOM") == "1"
                      else "scratchnet-deterministic")
