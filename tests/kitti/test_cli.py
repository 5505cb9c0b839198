"""``python -m fusion.kitti.cli eval`` end to end on a small copy of the labels."""

from __future__ import annotations

import json
from pathlib import Path

from fusion.kitti.cli import eval_main, main


def test_cli_eval(kitti_train: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "0017.txt").write_bytes((kitti_train / "labels" / "0017.txt").read_bytes())
    (tmp_path / "seqmap").write_text("0017 empty 000000 000145\n")
    rc = eval_main(["--labels", str(kitti_train / "labels"), "--results", str(tmp_path / "res"),
                    "--seqmap", str(tmp_path / "seqmap"), "--category", "pedestrian",
                    "--json", str(tmp_path / "o.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "sAMOTA" in out and "pedestrian" in out and "100.00" in out
    data = json.loads((tmp_path / "o.json").read_text())
    assert data["pedestrian"]["MOTA"] == 1.0


def test_cli_reports_malformed(kitti_train: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "0017.txt").write_text("0 1 Car 0 0\n")
    (tmp_path / "seqmap").write_text("0017 empty 000000 000145\n")
    rc = main(["eval", "--labels", str(kitti_train / "labels"), "--results", str(tmp_path / "res"),
               "--seqmap", str(tmp_path / "seqmap")])
    assert rc == 2
    assert "0017.txt:1:" in capsys.readouterr().err
