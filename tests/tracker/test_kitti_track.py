"""End to end on real KITTI training data: fusion kitti track, then the evaluator."""

from __future__ import annotations

from fusion.kitti.metrics import evaluate_kitti
from fusion.kitti.track import track_main

# Car MOTA (a fraction) measured on training sequences 0000 and 0003 with the default
# KITTI_CONFIG and output rules, minus a small margin.
CAR_MOTA_FLOOR = 0.78  # measured 0.8069 (HOTA 0.772, IDSW 1)
CAR_HOTA_FLOOR = 0.75


def _seqmap(shared, tmp_path, names):
    full = (shared / "kitti-train" / "evaluate_tracking.seqmap.train").read_text().splitlines()
    lines = [ln for ln in full if ln.split() and ln.split()[0] in names]
    assert len(lines) == len(names)
    p = tmp_path / "seqmap.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_kitti_car_two_sequences(shared_data, tmp_path, capsys):
    kitti = shared_data / "kitti-train"
    seqmap = _seqmap(shared_data, tmp_path, ["0000", "0003"])
    out = tmp_path / "out"
    rc = track_main(["--detections", str(kitti / "detections"), "--seqmap", str(seqmap), "--out", str(out),
                     "--category", "car", "--calib", str(kitti / "calib")])
    assert rc == 0
    assert "FPS" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "car").iterdir()) == ["0000.txt", "0003.txt"]
    res = evaluate_kitti(kitti / "labels", out / "car", seqmap, ["car"])["car"]
    assert res["MOTA"] > CAR_MOTA_FLOOR, res
    assert res["HOTA"] > CAR_HOTA_FLOOR, res

    # determinism of the whole pipeline: a second run writes identical files
    out2 = tmp_path / "out2"
    assert track_main(["--detections", str(kitti / "detections"), "--seqmap", str(seqmap), "--out", str(out2),
                       "--category", "car", "--calib", str(kitti / "calib"), "--quiet"]) == 0
    for name in ("0000.txt", "0003.txt"):
        assert (out / "car" / name).read_bytes() == (out2 / "car" / name).read_bytes()


def test_kitti_single_category_folder_and_bad_config(shared_data, tmp_path, capsys):
    kitti = shared_data / "kitti-train"
    seqmap = _seqmap(shared_data, tmp_path, ["0000"])
    cfg = tmp_path / "c.toml"
    cfg.write_text('[classes.2]\nmin_hits = 2\n[kitti]\noutput_max_coast = 0\n')
    out = tmp_path / "single"
    assert track_main(["--detections", str(kitti / "detections" / "pointrcnn_Car"), "--seqmap", str(seqmap),
                       "--out", str(out), "--config", str(cfg), "--quiet"]) == 0
    rows = (out / "0000.txt").read_text().splitlines()
    assert rows and all(len(r.split()) == 18 and r.split()[2] == "Car" for r in rows)
    cfg.write_text('[classes.2]\nmin_hits = 0\n')
    assert track_main(["--detections", str(kitti / "detections"), "--seqmap", str(seqmap),
                       "--out", str(out), "--config", str(cfg)]) == 2
    assert "min_hits" in capsys.readouterr().err


def test_kitti_all_scores_min_output_score_and_report(shared_data, tmp_path, capsys):
    from fusion.kitti.report import compare, format_comparison
    from fusion.kitti.track import DEFAULT_CONFIG, KITTI_CONFIG, load_config

    assert DEFAULT_CONFIG.is_file()  # shipped inside the package (package data)
    assert load_config(None)[0] == KITTI_CONFIG
    kitti = shared_data / "kitti-train"
    seqmap = _seqmap(shared_data, tmp_path, ["0000"])
    base = ["--detections", str(kitti / "detections"), "--seqmap", str(seqmap), "--category", "pedestrian",
            "--calib", str(kitti / "calib"), "--quiet"]
    n = {}
    for name, extra in (("thr", []), ("all", ["--all-scores"]), ("x", ["--min-output-score", "5"])):
        assert track_main(base + ["--out", str(tmp_path / name)] + extra) == 0
        rows = (tmp_path / name / "pedestrian" / "0000.txt").read_text().splitlines()
        n[name] = len(rows)
        if name == "x":
            assert all(float(r.split()[17]) >= 5.0 for r in rows)
    assert n["all"] > n["thr"] > n["x"]
    res = compare(kitti, seqmap, categories=["car"])
    for who in ("ours", "baseline"):
        assert set(res[who]["car"]) == {"HOTA", "DetA", "AssA", "MOTA", "IDSW", "sAMOTA", "AMOTA"}
    assert res["ours"]["car"]["HOTA"] > res["baseline"]["car"]["HOTA"]
    assert "baseline" in format_comparison(res) and res["fps"]["ours"] > 0
