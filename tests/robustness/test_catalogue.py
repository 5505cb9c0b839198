"""docs/robustness.md and docs/threading.md cannot rot: every table row of the bad-input
catalogue names at least one test, and every test either page names exists.

A cited id is ``tests/<file>.py::<function>`` (all its parameter sets) or
``tests/<file>.py::<function>[<id>]``. threading.md also writes ids relative to
``tests/test_threads.py`` (a bare ``test_...``), continues a row's file with ``::<function>``, and
abbreviates two parameter ids as ``[A/B]``. Function names are checked by parsing the test files
(no import), and parameter ids where the source gives them (one parametrize over a literal
list, no ``ids``); any other parameter id is refused: cite the function instead.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "robustness.md"
THREADING = ROOT / "docs" / "threading.md"
THREADS_DEFAULT = "tests/test_threads.py"

_TICKED = re.compile(r"`([^`]+)`")
_FULL = re.compile(r"^(tests/[\w/]+\.py)::(\w+)(\[[^\]]*\])?$")
_CONT = re.compile(r"^::(\w+)(\[[^\]]*\])?$")
_BARE = re.compile(r"^(test_\w+)(\[[^\]]*\])?$")


def _table_rows(text: str) -> list[str]:
    """The body rows of the markdown tables (not the header or the --- line)."""
    lines = text.splitlines()
    sep = re.compile(r"^\|\s*-{3}")
    return [line for i, line in enumerate(lines)
            if line.startswith("|") and not sep.match(line) and not (i + 1 < len(lines) and sep.match(lines[i + 1]))]


def cited_ids(text: str, bare_file: str | None) -> list[tuple[str, str, str | None]]:
    """(file, function, param or None) of every id in ``text``; ``bare_file`` resolves bare names."""
    out: list[tuple[str, str, str | None]] = []
    for line in text.splitlines():
        current = bare_file
        for tok in _TICKED.findall(line):
            tok = tok.strip()
            if m := _FULL.match(tok):
                current = m.group(1)
                out.append((m.group(1), m.group(2), m.group(3)))
            elif (m := _CONT.match(tok)) and current:
                out.append((current, m.group(1), m.group(2)))
            elif bare_file and (m := _BARE.match(tok)):
                out.append((bare_file, m.group(1), m.group(2)))
    return out


@cache
def _functions(path: str) -> frozenset[str]:
    """Test functions of a file: ``name`` at top level, ``Class::name`` in classes."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(f"{node.name}::{f.name}" for f in node.body
                         if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name.startswith("test"))
    return frozenset(names)


def _literal_ids(path: str, func: str) -> set[str] | None:
    """The parameter ids of ``func`` when they follow from the source alone: one
    ``pytest.mark.parametrize`` over a literal list of strings or numbers, without ``ids``
    (then the id is the value). None when pytest has to be asked."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == func:
            marks = [d for d in node.decorator_list if isinstance(d, ast.Call)
                     and isinstance(d.func, ast.Attribute) and d.func.attr == "parametrize"]
            if len(marks) != 1 or marks[0].keywords or len(marks[0].args) != 2:
                return None
            try:
                values = ast.literal_eval(marks[0].args[1])
            except ValueError:
                return None
            if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, int, float)) for v in values):
                return None
            return {str(v) for v in values}
    return None


def _check(ids: list[tuple[str, str, str | None]]) -> list[str]:
    missing = []
    with_params: list[tuple[str, str, str]] = []
    for path, func, param in ids:
        if not (ROOT / path).is_file():
            missing.append(f"{path} (no such file)")
        elif func not in _functions(path):
            missing.append(f"{path}::{func}")
        elif param is not None:
            with_params.append((path, func, param))
    for path, func, param in with_params:
        known = _literal_ids(path, func)
        if known is None:
            missing.append(f"{path}::{func}{param} (cite the function without the parameter id: its ids are not "
                           "literal in the source)")
            continue
        for one in param[1:-1].split("/"):  # [A/B]: the ids A and B
            if one not in known:
                missing.append(f"{path}::{func}[{one}]")
    return missing


def test_every_catalogue_row_names_a_test_and_every_cited_test_exists() -> None:
    text = CATALOGUE.read_text(encoding="utf-8")
    rows = _table_rows(text)
    assert len(rows) >= 100, f"the catalogue lost rows: {len(rows)}"
    untested = [r[:100] for r in rows if not cited_ids(r, None)]
    assert untested == [], f"rows without a test: {untested}"
    ids = cited_ids(text, None)
    assert _check(ids) == []
    # the sections the issue asks for are all there
    for section in ("Estimation API", "Association and geometry", "Fusion engine", "KITTI adapter",
                    "CAN decoders and log readers", "Rig files", "Live bus", "Configuration files"):
        assert f"## {section}" in text, section


def test_every_test_threading_md_cites_exists() -> None:
    text = THREADING.read_text(encoding="utf-8")
    ids = cited_ids(text, THREADS_DEFAULT)
    assert len(ids) >= 30
    assert _check(ids) == []


def test_the_checker_finds_a_missing_test() -> None:
    """The check itself can fail: a made-up name, a made-up parameter id and a missing file;
    a parameter id that only pytest could compute is refused (cite the function instead)."""
    computed = cited_ids("`tests/robustness/test_bad_inputs.py::test_motion_model_noise_must_be_finite_and_non_"
                         "negative[cv2d-nan]`", None)
    assert _literal_ids(*computed[0][:2]) is None
    assert [m.split(" (")[0] for m in _check(computed)] == [
        "tests/robustness/test_bad_inputs.py::test_motion_model_noise_must_be_finite_and_non_negative[cv2d-nan]"]
    bogus = cited_ids("| x | `tests/test_threads.py::test_no_such_test` `tests/nowhere.py::test_x` "
                      "`tests/test_threads.py::test_reset_racing_step_is_clean_and_never_hangs[Nope]` |", None)
    assert len(bogus) == 3
    assert _check(bogus) == ["tests/test_threads.py::test_no_such_test", "tests/nowhere.py (no such file)",
                             "tests/test_threads.py::test_reset_racing_step_is_clean_and_never_hangs[Nope]"]
