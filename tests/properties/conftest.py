"""Hypothesis settings of the property tests: the default profile ("ci") is sized so that the whole
folder stays cheap in the default test run; FUSION_HYPOTHESIS_PROFILE=long runs many more examples
(e.g. before a release, or after changing a filter or the engine)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# the fuzz targets (fuzz/target_*.py and their harness) for the smoke and regression tests
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("FUSION_HYPOTHESIS_PROFILE", "ci"))
