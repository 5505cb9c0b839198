"""FusionEngine and threads: a second thread reading stats()/tracks()/image_tracks() and calling
reset() while the main thread steps neither deadlocks nor sees a half-processed frame. Runs in
a child interpreter with a timeout (tests/_isolated.py), so a deadlock fails instead of hanging."""

from __future__ import annotations

from pathlib import Path

from _isolated import run_isolated

HERE = str(Path(__file__).resolve().parent)


def test_polling_while_stepping_reads_only_complete_frames():
    """Without reset: every stats() read equals the counters after some complete frame
    (frames, detections and births consistent with one prefix of the run), every tracks() read
    is well formed, and the stepping thread's output is that of an unobserved run."""
    r = run_isolated("""
        import json, sys, threading
        import numpy as np
        sys.path.insert(0, HERE)
        from _engine_scene import config, frames
        from fusion.engine import FusionEngine

        fr = []
        for loop in range(6):  # 6 passes of the scene, later passes shifted in time
            fr += frames(4.5, seed=loop, t0_ns=loop * 10_000_000_000)

        def play(eng, record=None):
            for f in fr:
                eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
                if record is not None:
                    record.append(eng.stats())
            return eng.tracks().tobytes()

        prefix = [{k: 0 for k in FusionEngine(config()).stats()}]
        reference = play(FusionEngine(config()), prefix)
        valid = {tuple(sorted(s.items())) for s in prefix}

        eng = FusionEngine(config())
        done = threading.Event()
        polls, bad = [0], []

        def poll():
            while not done.is_set():
                s = eng.stats()
                if tuple(sorted(s.items())) not in valid:
                    bad.append(("stats", s))
                tr = eng.tracks()
                if len(np.unique(tr["id"])) != len(tr) or not np.all(np.isfinite(tr["P"])):
                    bad.append(("tracks", len(tr)))
                eng.image_tracks(); eng.num_tracks; eng.time_ns
                polls[0] += 1

        th = threading.Thread(target=poll)
        th.start()
        out = play(eng)
        done.set()
        th.join(60)
        print(json.dumps({"alive": th.is_alive(), "polls": polls[0], "bad": bad[:3],
                          "same": out == reference}))
    """.replace("HERE", repr(HERE)), timeout=300)
    assert not r["alive"] and r["bad"] == [] and r["same"]
    assert r["polls"] > 10


def test_reset_from_another_thread_while_stepping():
    """reset() between frames from a second thread: no deadlock, no exception in either thread,
    every read well formed, and after the last reset the engine tracks again from scratch."""
    r = run_isolated("""
        import json, sys, threading, time
        import numpy as np
        sys.path.insert(0, HERE)
        from _engine_scene import config, frames
        from fusion.engine import FusionEngine

        fr = []
        for loop in range(4):
            fr += frames(4.5, seed=loop, t0_ns=loop * 10_000_000_000)
        eng = FusionEngine(config())
        done = threading.Event()
        resets, errors, bad = [0], [], []

        def meddle():
            try:
                while not done.is_set():
                    eng.reset()
                    resets[0] += 1
                    for _ in range(20):
                        tr = eng.tracks(); im = eng.image_tracks(); s = eng.stats()
                        if len(np.unique(tr["id"])) != len(tr) or min(s.values()) < 0:
                            bad.append(len(tr))
                    time.sleep(0.002)
            except BaseException as e:
                errors.append(repr(e))

        th = threading.Thread(target=meddle)
        th.start()
        try:
            for f in fr:
                eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
        except BaseException as e:
            errors.append(repr(e))
        done.set()
        th.join(60)
        ids = eng.tracks()["id"]
        print(json.dumps({"alive": th.is_alive(), "resets": resets[0], "errors": errors, "bad": bad,
                          "unique": len(np.unique(ids)) == len(ids)}))
    """.replace("HERE", repr(HERE)), timeout=300)
    assert not r["alive"] and r["errors"] == [] and r["bad"] == [] and r["unique"]
    assert r["resets"] > 1
