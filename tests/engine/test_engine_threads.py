"""FusionEngine and threads: a second thread reading stats()/tracks()/image_tracks() and calling
reset() while the main thread steps neither deadlocks nor sees a half-processed frame. Runs in
a child interpreter with a timeout (tests/_isolated.py), so a deadlock fails instead of hanging.

The stepping thread keeps going (over up to 30 passes of the scene) until the other thread has
done enough work, so the overlap does not depend on how loaded the machine is."""

from __future__ import annotations

from pathlib import Path

from _isolated import run_isolated

HERE = str(Path(__file__).resolve().parent)


def test_polling_while_stepping_reads_only_complete_frames():
    """Without reset: every stats() read equals the counters after some complete frame, every
    tracks() read is well formed, and the stepping thread's output is that of an unobserved run
    of the same frames."""
    r = run_isolated("""
        import json, sys, threading, time
        import numpy as np
        sys.path.insert(0, HERE)
        from _engine_scene import config, frames
        from fusion.engine import FusionEngine

        fr = []
        for loop in range(30):  # passes of the scene, each later one shifted in time
            fr += frames(4.5, seed=loop, t0_ns=loop * 10_000_000_000)

        eng = FusionEngine(config())
        done = threading.Event()
        polls, seen, bad = [0], [], []

        def poll():
            while not done.is_set():
                seen.append(eng.stats())
                tr = eng.tracks()
                if len(np.unique(tr["id"])) != len(tr) or not np.all(np.isfinite(tr["P"])):
                    bad.append(("tracks", len(tr)))
                eng.image_tracks(); eng.num_tracks; eng.time_ns
                polls[0] += 1

        th = threading.Thread(target=poll)
        th.start()
        deadline = time.monotonic() + 60
        for i, f in enumerate(fr):
            eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
            if i >= 180 and (polls[0] >= 300 or time.monotonic() > deadline):
                break
        done.set()
        th.join(60)
        stepped = i + 1
        out = eng.tracks().tobytes()

        ref = FusionEngine(config())
        valid = {tuple(sorted(ref.stats().items()))}
        for f in fr[:stepped]:
            ref.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
            valid.add(tuple(sorted(ref.stats().items())))
        torn = [s for s in seen if tuple(sorted(s.items())) not in valid]
        print(json.dumps({"alive": th.is_alive(), "polls": polls[0], "stepped": stepped, "bad": bad[:3],
                          "torn": torn[:3], "same": out == ref.tracks().tobytes()}))
    """.replace("HERE", repr(HERE)), timeout=300)
    assert not r["alive"] and r["bad"] == [] and r["torn"] == [] and r["same"]
    assert r["polls"] >= 300 or r["stepped"] == 30 * 90, r


def test_reset_from_another_thread_while_stepping():
    """reset() between frames from a second thread: no deadlock, no exception in either thread,
    every read well formed, and ids stay unique (never reused across resets)."""
    r = run_isolated("""
        import json, sys, threading, time
        import numpy as np
        sys.path.insert(0, HERE)
        from _engine_scene import config, frames
        from fusion.engine import FusionEngine

        fr = []
        for loop in range(30):
            fr += frames(4.5, seed=loop, t0_ns=loop * 10_000_000_000)
        eng = FusionEngine(config())
        done = threading.Event()
        resets, errors, bad, born, reused = [0], [], [], {}, []

        def meddle():
            try:
                while not done.is_set():
                    eng.reset()
                    resets[0] += 1
                    for _ in range(20):
                        tr = eng.tracks(); im = eng.image_tracks(); s = eng.stats()
                        if len(np.unique(tr["id"])) != len(tr) or min(s.values()) < 0:
                            bad.append(len(tr))
                    time.sleep(0.001)
            except BaseException as e:
                errors.append(repr(e))

        th = threading.Thread(target=meddle)
        th.start()
        deadline = time.monotonic() + 60
        try:
            for i, f in enumerate(fr):
                eng.process(f["sensor"], f["t_ns"], f["z"], score=f["score"], class_id=f["class_id"])
                for rec in eng.tracks():  # an id belongs to one track: one birth time
                    if born.setdefault(int(rec["id"]), int(rec["birth_t_ns"])) != int(rec["birth_t_ns"]):
                        reused.append(int(rec["id"]))
                if i >= 180 and (resets[0] >= 20 or time.monotonic() > deadline):
                    break
        except BaseException as e:
            errors.append(repr(e))
        done.set()
        th.join(60)
        print(json.dumps({"alive": th.is_alive(), "resets": resets[0], "errors": errors, "bad": bad[:3],
                          "stepped": i + 1, "reused": reused[:3], "ids": len(born)}))
    """.replace("HERE", repr(HERE)), timeout=300)
    assert not r["alive"] and r["errors"] == [] and r["bad"] == [] and r["reused"] == [] and r["ids"] > 0
    assert r["resets"] >= 20 or r["stepped"] == 30 * 90, r
