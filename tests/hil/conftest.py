"""Fixtures of the fusion.hil tests: the real CAN data in ../shared/data/can (skipped with a
message when absent, a failure under FUSION_REQUIRE_SHARED=1, like the root conftest's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

RAV4 = "rav4_2018-08-02--08-34-47_seg40"


@pytest.fixture(scope="session")
def can_data(shared_data: Path) -> Path:
    path = shared_data / "can"
    if not (path / "comma2k19").is_dir() or not (path / "opendbc").is_dir():
        message = f"CAN data not found: {path}/comma2k19 or {path}/opendbc is missing"
        if os.environ.get("FUSION_REQUIRE_SHARED") == "1":
            pytest.fail(message + "; FUSION_REQUIRE_SHARED=1 requires it")
        pytest.skip(message)
    return path
