"""Inputs the fuzzer (scripts/fuzz.py) and the property tests found that broke a documented
contract, replayed through their fuzz target and checked directly. Each names what it found."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusion.errors import DecodeError
from fusion.kitti import io

from fuzz_harness import load_target, run_one


# kitti_io: a KITTI label / calibration / seqmap file with bytes that are not UTF-8 raised a bare
# UnicodeDecodeError (read_detections and read_camera_detections already gave DecodeError).
@pytest.mark.parametrize("reader,selector", [(io.read_labels, 0), (io.read_calib, 3), (io.read_seqmap, 4)])
def test_kitti_reader_non_utf8_is_a_decode_error(tmp_path: Path, reader: object, selector: int) -> None:
    p = tmp_path / "0000.txt"
    p.write_bytes(b"0 1 Car 0 0 -1.5 \xa3\xff 150.0\n")
    with pytest.raises(DecodeError, match=r"0000\.txt: not UTF-8 text"):
        reader(p)
    assert run_one(load_target("kitti_io"), bytes([selector]) + p.read_bytes()) is None
