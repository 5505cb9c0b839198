"""Fixtures for the KITTI tests: locate the shared KITTI training data.

Lookup order: ``$FUSION_SHARED_DATA`` (a folder containing ``kitti-train/``, or ``kitti-train``
itself), else the first ``shared/data/kitti-train`` found walking up from this file.  When the
data is absent the tests skip, unless ``FUSION_REQUIRE_SHARED=1``, in which case they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def find_kitti_train() -> Path | None:
    env = os.environ.get("FUSION_SHARED_DATA")
    if env:
        p = Path(env)
        for cand in (p / "kitti-train", p):
            if (cand / "labels").is_dir():
                return cand
        return None
    for parent in Path(__file__).resolve().parents:
        cand = parent / "shared" / "data" / "kitti-train"
        if (cand / "labels").is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def kitti_train() -> Path:
    path = find_kitti_train()
    if path is None:
        msg = ("KITTI training data not found: set FUSION_SHARED_DATA to the folder holding kitti-train/ "
               "(or place it at <ancestor>/shared/data/kitti-train)")
        if os.environ.get("FUSION_REQUIRE_SHARED") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path
