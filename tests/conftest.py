"""Test configuration shared by the whole suite: one locator for the recorded data.

``shared_data`` is the project's real recorded data: ``$FUSION_SHARED_DATA`` when set, else
``../shared/data`` beside the checkout.  ``kitti_train`` is its ``kitti-train/`` folder (KITTI
tracking training half: ``labels/``, ``calib/``, ``detections/``, the seqmap).  When the data
is absent the tests that need it skip with a message, unless ``FUSION_REQUIRE_SHARED=1`` (set
by ``.ci/run``), in which case they fail.
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


def _missing(message: str) -> None:
    if os.environ.get("FUSION_REQUIRE_SHARED") == "1":
        pytest.fail(message + "; FUSION_REQUIRE_SHARED=1 requires it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = find_shared_data()
    if path is None:
        env = os.environ.get("FUSION_SHARED_DATA")
        _missing(f"FUSION_SHARED_DATA={env} is not a folder" if env else
                 "../shared/data is not beside this checkout (set FUSION_SHARED_DATA to point at it)")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def kitti_train(shared_data: Path) -> Path:
    path = shared_data / "kitti-train"
    if not (path / "labels").is_dir():
        _missing(f"KITTI training data not found: {path}/labels is not a folder")
    return path
