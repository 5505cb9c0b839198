"""The README's "Multi-sensor engine" example runs and does what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_engine_example_runs():
    text = README.read_text()
    section = text.split("### Multi-sensor engine", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "no python block in the README's Multi-sensor engine section"
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code.group(1), str(README), "exec"), ns)
    tracks, engine = ns["tracks"], ns["engine"]
    assert len(tracks) == 1 and abs(tracks["velocity"][0, 0] - 5.0) < 1.0
    assert tracks["hits"][0].tolist() == [6, 6]  # every lidar and camera frame
    image = engine.image_tracks()
    assert len(image) == 1 and image["id"][0] != tracks["id"][0]
