"""Test configuration shared by the whole suite.

``shared_data`` locates the project's real recorded data (``../shared/data`` beside the
checkout, or ``$FUSION_SHARED_DATA``). When it is absent the tests that need it skip with a
message, unless ``FUSION_REQUIRE_SHARED=1`` (set by ``.ci/run``), in which case they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    env = os.environ.get("FUSION_SHARED_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    candidate = REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = find_shared_data()
    if path is None:
        message = "../shared/data is not beside this checkout (set FUSION_SHARED_DATA to point at it)"
        if os.environ.get("FUSION_REQUIRE_SHARED") == "1":
            pytest.fail(message + "; FUSION_REQUIRE_SHARED=1 requires it")
        pytest.skip(message)
    return path
