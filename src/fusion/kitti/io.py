"""Readers and writers for the KITTI tracking file formats, and KITTI box conversions.

Formats (all text, one record per line):

- ``label_02`` tracks / ground truth (space separated, 17 columns, optionally an 18th score)::

      frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]

  ``x1 y1 x2 y2`` is the 2D box in the left colour image (pixels); ``h w l`` the 3D box size
  (metres); ``x y z`` the centre of the BOTTOM face of the 3D box in the rectified camera-0 frame
  (metres; x right, y down, z forward); ``rotation_y`` the yaw about the camera y axis (radians).
- detections (comma separated, 15 columns, as published with AB3DMOT)::

      frame, type (1=Pedestrian, 2=Car, 3=Cyclist), x1, y1, x2, y2, score, h, w, l, x, y, z, rot_y, alpha

- camera detections (comma separated, 6 columns, e.g. RRC 2D boxes; the folder names the class)::

      frame, x1, y1, x2, y2, score

- calibration: ``KEY: v1 v2 ...`` (or ``KEY v1 v2 ...``) lines with ``P0..P3`` (3x4), ``R_rect`` /
  ``R0_rect`` (3x3), ``Tr_velo_cam`` / ``Tr_velo_to_cam`` and ``Tr_imu_velo`` / ``Tr_imu_to_velo`` (3x4).
- seqmap: ``seq empty first_frame n_frames`` per line.

Malformed input raises :class:`fusion.errors.DecodeError` with ``path:line:`` in the message.

Box conventions: a KITTI camera box is ``(h, w, l, x, y, z, ry)`` as above.  The project's generic
box is ``(x, y, z, yaw, l, w, h)`` in a right-handed z-UP frame whose axes are the camera axes
permuted (X forward = z_cam, Y left = -x_cam, Z up = -y_cam; the same orientation as the KITTI
velodyne frame, but with the camera origin), with ``(x, y, z)`` the box CENTRE and ``yaw`` the
heading of the length axis about Z, counter-clockwise from X (radians).  Corners and image
projection of either kind of box are in :mod:`fusion.geometry.projection`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fusion.errors import DecodeError, ShapeError

__all__ = [
    "CATEGORIES",
    "CATEGORY_IDS",
    "DETECTION_TYPES",
    "KITTI_CLASSES",
    "Calib",
    "CameraDetections",
    "Detections",
    "KittiClass",
    "SeqmapEntry",
    "TrackRows",
    "camera_box_to_generic",
    "check_frames_within",
    "generic_to_camera_box",
    "read_calib",
    "read_camera_detections",
    "read_detections",
    "read_labels",
    "read_seqmap",
    "write_results",
]

PathLike = str | os.PathLike[str]



@dataclass(frozen=True)
class KittiClass:
    """One KITTI object class that ``fusion.kitti`` tracks and evaluates.

    Attributes:
        category: lower-case name used by the evaluation, the CLI and the configs (``"car"``).
        type_name: the ``label_02`` type spelling (``"Car"``), also written in result files.
        code: type code of the detection files, used as the tracker's ``class_id`` (2).
    """

    category: str
    type_name: str
    code: int


#: The one KITTI class table of ``fusion.kitti``, in report order; the names below derive from it.
KITTI_CLASSES: tuple[KittiClass, ...] = (
    KittiClass("car", "Car", 2),
    KittiClass("pedestrian", "Pedestrian", 1),
    KittiClass("cyclist", "Cyclist", 3),
)
_BY_CODE = sorted(KITTI_CLASSES, key=lambda c: c.code)
#: Evaluated categories, in report order: ``("car", "pedestrian", "cyclist")``.
CATEGORIES: tuple[str, ...] = tuple(c.category for c in KITTI_CLASSES)
#: Category -> detection type code (the tracker's ``class_id``), in code order.
CATEGORY_IDS: dict[str, int] = {c.category: c.code for c in _BY_CODE}
#: Detection type code -> ``label_02`` type name, in code order.
DETECTION_TYPES: dict[int, str] = {c.code: c.type_name for c in _BY_CODE}


@dataclass
class TrackRows:
    """Rows of a ``label_02`` file (ground truth or tracker output), as parallel numpy arrays.

    Attributes:
        frame: (N,) int64 frame index (0-based).
        track_id: (N,) int64 track id (-1 for DontCare regions).
        type: (N,) str object type as written (``Car``, ``Van``, ``Pedestrian``, ``DontCare``...).
        truncated: (N,) float64 truncation level (tracking labels: 0, 1, 2; -1 for DontCare).
        occluded: (N,) int64 occlusion level (0 visible .. 3 unknown; -1 for DontCare).
        alpha: (N,) float64 observation angle (radians).
        bbox: (N, 4) float64 2D box ``x1, y1, x2, y2`` (pixels, left colour image).
        dims: (N, 3) float64 3D size ``h, w, l`` (metres).
        loc: (N, 3) float64 bottom-face centre ``x, y, z`` in the rectified camera frame (metres).
        rotation_y: (N,) float64 yaw about the camera y axis (radians).
        score: (N,) float64 confidence; NaN where the file had no score column.
        path: file the rows were read from (None when built in memory).
        line: (N,) int64 1-based line number of each row in ``path`` (-1 when built in memory).
    """

    frame: np.ndarray
    track_id: np.ndarray
    type: np.ndarray
    truncated: np.ndarray
    occluded: np.ndarray
    alpha: np.ndarray
    bbox: np.ndarray
    dims: np.ndarray
    loc: np.ndarray
    rotation_y: np.ndarray
    score: np.ndarray
    path: str | None = None
    line: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.frame)
        if len(self.line) != n:
            self.line = np.full(n, -1, np.int64)
        for name in ("track_id", "type", "truncated", "occluded", "alpha", "rotation_y", "score"):
            if len(getattr(self, name)) != n:
                raise ShapeError(f"TrackRows.{name}: expected length {n}, got {len(getattr(self, name))}")
        for name, width in (("bbox", 4), ("dims", 3), ("loc", 3)):
            arr = getattr(self, name)
            if arr.shape != (n, width):
                raise ShapeError(f"TrackRows.{name}: expected shape ({n}, {width}), got {arr.shape}")

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def create(
        cls,
        frame: Iterable[int],
        track_id: Iterable[int],
        type: Iterable[str] | str,
        bbox: np.ndarray,
        dims: np.ndarray,
        loc: np.ndarray,
        rotation_y: Iterable[float],
        score: Iterable[float] | None = None,
        truncated: Iterable[float] | None = None,
        occluded: Iterable[int] | None = None,
        alpha: Iterable[float] | None = None,
    ) -> TrackRows:
        """Build rows from arrays; ``type`` may be one string for all rows.

        Missing ``truncated``/``occluded`` default to 0, ``alpha`` to -10 (KITTI's "unknown"),
        ``score`` to NaN.  Units as in the class docstring.
        """
        frame_a = np.asarray(frame, np.int64).reshape(-1)
        n = len(frame_a)
        types = np.full(n, type, dtype=object) if isinstance(type, str) else np.asarray(list(type), dtype=object)

        def vec(v: Iterable[float] | None, default: float, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
            if v is None:
                return np.full(n, default, dtype)
            return np.asarray(v, dtype).reshape(-1)

        return cls(
            frame=frame_a,
            track_id=np.asarray(track_id, np.int64).reshape(-1),
            type=types,
            truncated=vec(truncated, 0.0),
            occluded=vec(occluded, 0, np.int64),
            alpha=vec(alpha, -10.0),
            bbox=np.asarray(bbox, np.float64).reshape(n, 4),
            dims=np.asarray(dims, np.float64).reshape(n, 3),
            loc=np.asarray(loc, np.float64).reshape(n, 3),
            rotation_y=vec(rotation_y, 0.0),
            score=vec(score, np.nan),
        )

    def select(self, mask: np.ndarray) -> TrackRows:
        """Rows where ``mask`` (boolean or integer index array) selects."""
        return TrackRows(
            frame=self.frame[mask],
            track_id=self.track_id[mask],
            type=self.type[mask],
            truncated=self.truncated[mask],
            occluded=self.occluded[mask],
            alpha=self.alpha[mask],
            bbox=self.bbox[mask],
            dims=self.dims[mask],
            loc=self.loc[mask],
            rotation_y=self.rotation_y[mask],
            score=self.score[mask],
            path=self.path,
            line=self.line[mask],
        )

    def camera_boxes(self) -> np.ndarray:
        """(N, 7) KITTI camera boxes ``h, w, l, x, y, z, ry`` (metres, radians)."""
        return np.column_stack([self.dims, self.loc, self.rotation_y])

    def where(self, i: int) -> str:
        """``path:line`` of row ``i`` for error messages."""
        return f"{self.path or '<memory>'}:{int(self.line[i])}"


@dataclass
class Detections:
    """Rows of a comma separated detection file.

    Attributes:
        frame: (N,) int64 frame index.
        category: (N,) int64 type code (1 Pedestrian, 2 Car, 3 Cyclist; see ``DETECTION_TYPES``).
        bbox: (N, 4) float64 2D box ``x1, y1, x2, y2`` (pixels).
        score: (N,) float64 detector score (raw logit for PointRCNN, probability for PV-RCNN).
        dims: (N, 3) float64 ``h, w, l`` (metres).
        loc: (N, 3) float64 bottom-face centre ``x, y, z``, rectified camera frame (metres).
        rotation_y: (N,) float64 yaw about the camera y axis (radians).
        alpha: (N,) float64 observation angle (radians).
        path: source file.
        line: (N,) int64 1-based line number of each row in ``path``.
    """

    frame: np.ndarray
    category: np.ndarray
    bbox: np.ndarray
    score: np.ndarray
    dims: np.ndarray
    loc: np.ndarray
    rotation_y: np.ndarray
    alpha: np.ndarray
    path: str | None = None
    line: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.frame)

    def camera_boxes(self) -> np.ndarray:
        """(N, 7) KITTI camera boxes ``h, w, l, x, y, z, ry`` (metres, radians)."""
        return np.column_stack([self.dims, self.loc, self.rotation_y])

    def generic_boxes(self) -> np.ndarray:
        """(N, 7) generic z-up boxes ``x, y, z, yaw, l, w, h`` (see module docstring)."""
        return camera_box_to_generic(self.camera_boxes())


@dataclass
class Calib:
    """KITTI calibration matrices (rectified camera frame conventions).

    Attributes:
        P2: (3, 4) projection of rectified camera-0 coordinates (metres) to left colour image pixels.
        P0, P1, P3: (3, 4) other camera projections, or None if absent.
        R_rect: (3, 3) rectifying rotation, or None.
        Tr_velo_cam: (3, 4) velodyne to (unrectified) camera-0 rigid transform (metres), or None.
        Tr_imu_velo: (3, 4) IMU to velodyne rigid transform (metres), or None.
    """

    P2: np.ndarray
    P0: np.ndarray | None = None
    P1: np.ndarray | None = None
    P3: np.ndarray | None = None
    R_rect: np.ndarray | None = None
    Tr_velo_cam: np.ndarray | None = None
    Tr_imu_velo: np.ndarray | None = None


@dataclass(frozen=True)
class SeqmapEntry:
    """One seqmap line: sequence name (e.g. ``"0000"``), first frame and number of frames."""

    name: str
    first_frame: int
    n_frames: int


def _err(path: PathLike, line: int, msg: str) -> DecodeError:
    return DecodeError(f"{os.fspath(path)}:{line}: {msg}")


def _to_int(tok: str, path: PathLike, line: int, what: str) -> int:
    try:
        val = float(tok)
    except ValueError:
        raise _err(path, line, f"{what}: expected an integer, got {tok!r}") from None
    if not np.isfinite(val) or val != int(val):
        raise _err(path, line, f"{what}: expected an integer, got {tok!r}")
    return int(val)


def _to_floats(toks: list[str], path: PathLike, line: int, names: list[str]) -> list[float]:
    out = []
    for tok, name in zip(toks, names):
        try:
            out.append(float(tok))
        except ValueError:
            raise _err(path, line, f"{name}: expected a number, got {tok!r}") from None
    return out


_LABEL_FLOAT_NAMES = ["truncated", "occluded", "alpha", "x1", "y1", "x2", "y2", "h", "w", "l", "x", "y", "z",
                      "rotation_y", "score"]


def _utf8_lines(fh: Iterable[str], path: PathLike) -> Iterator[str]:
    """The lines of a text file opened as UTF-8; DecodeError naming the file and line instead of
    a bare UnicodeDecodeError."""
    it = iter(fh)
    lineno = 0
    while True:
        try:
            raw = next(it)
        except StopIteration:
            return
        except UnicodeDecodeError as e:
            raise _err(path, lineno + 1, f"not UTF-8 text ({e.reason} at byte {e.start} of the read block)") from None
        lineno += 1
        yield raw


def read_labels(path: PathLike) -> TrackRows:
    """Read a ``label_02`` file (ground truth, or tracker results with an 18th score column).

    Blank lines are skipped.  Every other line must have 17 or 18 space separated fields with
    integer ``frame``/``track_id``/``occluded``, numeric fields as documented in :class:`TrackRows`.

    Raises:
        DecodeError: ``path:line: ...`` for a malformed row.
        OSError: if the file cannot be opened.
    """
    frames: list[int] = []
    ids: list[int] = []
    types: list[str] = []
    nums: list[list[float]] = []
    lines: list[int] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(_utf8_lines(fh, path), start=1):
            toks = raw.split()
            if not toks:
                continue
            if len(toks) not in (17, 18):
                raise _err(path, lineno, f"expected 17 or 18 space separated fields "
                                         f"(frame track_id type ... rotation_y [score]), got {len(toks)}")
            frames.append(_to_int(toks[0], path, lineno, "frame"))
            ids.append(_to_int(toks[1], path, lineno, "track_id"))
            if frames[-1] < 0:
                raise _err(path, lineno, f"frame: expected >= 0, got {frames[-1]}")
            types.append(toks[2])
            vals = _to_floats(toks[3:], path, lineno, _LABEL_FLOAT_NAMES)
            _to_int(toks[4], path, lineno, "occluded")  # finite and integral, or a DecodeError
            for name, v in zip(_LABEL_FLOAT_NAMES, vals):
                if not math.isfinite(v):
                    raise _err(path, lineno, f"{name}: expected a finite number, got {v}")
            # DontCare rows carry arbitrary negative placeholders, and h = w = l = -1 is KITTI's
            # "no 3D box" (a 2D-only row, e.g. a camera-only track); any other negative size is bad
            if toks[2] != "DontCare" and vals[7:10] != [-1.0, -1.0, -1.0]:
                for name, v in zip(("h", "w", "l"), vals[7:10]):
                    if v < 0:
                        raise _err(path, lineno, f"{name}: a {toks[2]} box size must be >= 0 (or h w l = -1 -1 -1: "
                                                 f"no 3D box), got {v}")
            if len(vals) == 14:
                vals.append(np.nan)
            nums.append(vals)
            lines.append(lineno)
    arr = np.asarray(nums, np.float64).reshape(-1, 15)
    return TrackRows(
        frame=np.asarray(frames, np.int64),
        track_id=np.asarray(ids, np.int64),
        type=np.asarray(types, dtype=object),
        truncated=arr[:, 0].copy(),
        occluded=arr[:, 1].astype(np.int64),
        alpha=arr[:, 2].copy(),
        bbox=arr[:, 3:7].copy(),
        dims=arr[:, 7:10].copy(),
        loc=arr[:, 10:13].copy(),
        rotation_y=arr[:, 13].copy(),
        score=arr[:, 14].copy(),
        path=os.fspath(path),
        line=np.asarray(lines, np.int64),
    )


_CODES = [f"{k} ({v})" for k, v in DETECTION_TYPES.items()]
_TYPE_CHOICES = ", ".join(_CODES[:-1]) + " or " + _CODES[-1]  # "1 (Pedestrian), 2 (Car) or 3 (Cyclist)"
_DET_NAMES = ["x1", "y1", "x2", "y2", "score", "h", "w", "l", "x", "y", "z", "rot_y", "alpha"]


def read_detections(path: PathLike) -> Detections:
    """Read a comma separated detection file (15 columns, see module docstring).

    Raises:
        DecodeError: ``path:line: ...`` for a malformed row (wrong field count, non-numeric or
            non-finite value, negative box size, unknown type code).
    """
    frames: list[int] = []
    cats: list[int] = []
    nums: list[list[float]] = []
    lines: list[int] = []
    with open(path, encoding="utf-8") as fh:
        try:
            rows = list(fh)
        except UnicodeDecodeError as e:
            raise DecodeError(f"{os.fspath(path)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        for lineno, raw in enumerate(rows, start=1):
            if not raw.strip():
                continue
            toks = [t.strip() for t in raw.split(",")]
            if len(toks) != 15:
                raise _err(path, lineno, f"expected 15 comma separated fields "
                                         f"(frame, type, x1, y1, x2, y2, score, h, w, l, x, y, z, rot_y, alpha), "
                                         f"got {len(toks)}")
            frames.append(_to_int(toks[0], path, lineno, "frame"))
            if frames[-1] < 0:  # was silently dropped by the per-frame split
                raise _err(path, lineno, f"frame: expected >= 0, got {frames[-1]}")
            cat = _to_int(toks[1], path, lineno, "type")
            if cat not in DETECTION_TYPES:
                raise _err(path, lineno, f"type: expected {_TYPE_CHOICES}, got {cat}")
            cats.append(cat)
            vals = _to_floats(toks[2:], path, lineno, _DET_NAMES)
            for name, v in zip(_DET_NAMES, vals):
                if not math.isfinite(v):
                    raise _err(path, lineno, f"{name}: expected a finite number, got {v}")
            for name, v in zip(("h", "w", "l"), vals[5:8]):
                if v < 0:
                    raise _err(path, lineno, f"{name}: a box size must be >= 0, got {v}")
            nums.append(vals)
            lines.append(lineno)
    arr = np.asarray(nums, np.float64).reshape(-1, 13)
    return Detections(
        frame=np.asarray(frames, np.int64),
        category=np.asarray(cats, np.int64),
        bbox=arr[:, 0:4].copy(),
        score=arr[:, 4].copy(),
        dims=arr[:, 5:8].copy(),
        loc=arr[:, 8:11].copy(),
        rotation_y=arr[:, 11].copy(),
        alpha=arr[:, 12].copy(),
        path=os.fspath(path),
        line=np.asarray(lines, np.int64),
    )


@dataclass
class CameraDetections:
    """Rows of a comma separated camera detection file ``frame, x1, y1, x2, y2, score``.

    Attributes:
        frame: (N,) int64 frame index (>= 0).
        bbox: (N, 4) float64 image box ``x1, y1, x2, y2`` (pixels, left colour image; x2 >= x1, y2 >= y1).
        score: (N,) float64 detector score (a probability for RRC).
        path: source file.
        line: (N,) int64 1-based line number of each row in ``path``.
    """

    frame: np.ndarray
    bbox: np.ndarray
    score: np.ndarray
    path: str | None = None
    line: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.frame)

    def by_frame(self, n_frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per frame ``0 .. n_frames - 1``: the (m, 4) boxes and the (m,) scores, in file order
        within a frame.

        Raises:
            DecodeError: ``path:line`` of a row whose frame is ``n_frames`` or later (the sequence
                has no such frame: a seqmap that does not fit the file, or a stray frame number).
        """
        n = max(int(n_frames), 0)
        check_frames_within(self.frame, self.line, self.path, n)
        order = np.argsort(self.frame, kind="stable")
        frames, bbox, score = self.frame[order], self.bbox[order], self.score[order]
        starts = np.searchsorted(frames, np.arange(n + 1))
        return ([bbox[starts[f]:starts[f + 1]] for f in range(n)], [score[starts[f]:starts[f + 1]] for f in range(n)])


#: Frames a sequence may have when no seqmap bounds it (a day at 10 Hz is 864,000): a frame
#: number at or past this is a corrupt row, not a sequence to allocate frame lists for.
MAX_FRAMES_WITHOUT_SEQMAP = 1_000_000


def check_frames_within(frame: np.ndarray, line: np.ndarray, path: str | None, n_frames: int | None) -> None:
    """Raise :class:`DecodeError` naming ``path:line`` of the first row whose frame is not below ``n_frames``
    (``None``: not below :data:`MAX_FRAMES_WITHOUT_SEQMAP`)."""
    limit = MAX_FRAMES_WITHOUT_SEQMAP if n_frames is None else n_frames
    late = np.flatnonzero(frame >= limit)
    if len(late):
        i = int(late[0])
        where = f"{path or '<memory>'}:{int(line[i])}" if i < len(line) else f"{path or '<memory>'}: row {i + 1}"
        if n_frames is None:
            raise DecodeError(f"{where}: frame {int(frame[i])} is implausibly large (at most "
                              f"{MAX_FRAMES_WITHOUT_SEQMAP - 1} without a seqmap)")
        raise DecodeError(f"{where}: frame {int(frame[i])} is past the sequence's last frame {n_frames - 1} "
                          f"(the seqmap gives {n_frames} frames)")


_CAM_NAMES = ["x1", "y1", "x2", "y2", "score"]


def read_camera_detections(path: PathLike) -> CameraDetections:
    """Read a camera detection file: ``frame, x1, y1, x2, y2, score`` per line (pixels; blank lines skipped).

    Raises:
        DecodeError: ``path:line: ...`` naming the field for a malformed row: not 6 fields, a
            non-numeric or non-integer frame, a negative frame, a NaN or infinite value, ``x2 < x1``
            or ``y2 < y1``; a file that is not UTF-8 text.
        OSError: if the file cannot be opened.
    """
    frames: list[int] = []
    nums: list[list[float]] = []
    lines: list[int] = []
    with open(path, encoding="utf-8") as fh:
        try:
            rows = list(fh)
        except UnicodeDecodeError as e:
            raise DecodeError(f"{os.fspath(path)}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        for lineno, raw in enumerate(rows, start=1):
            if not raw.strip():
                continue
            toks = [t.strip() for t in raw.split(",")]
            if len(toks) != 6:
                raise _err(path, lineno, f"expected 6 comma separated fields (frame, x1, y1, x2, y2, score), "
                                         f"got {len(toks)}")
            frame = _to_int(toks[0], path, lineno, "frame")
            if frame < 0:
                raise _err(path, lineno, f"frame: expected >= 0, got {frame}")
            vals = _to_floats(toks[1:], path, lineno, _CAM_NAMES)
            for name, v in zip(_CAM_NAMES, vals):
                if not np.isfinite(v):
                    raise _err(path, lineno, f"{name}: expected a finite number, got {v}")
            if vals[2] < vals[0]:
                raise _err(path, lineno, f"x2 < x1 ({vals[2]} < {vals[0]})")
            if vals[3] < vals[1]:
                raise _err(path, lineno, f"y2 < y1 ({vals[3]} < {vals[1]})")
            frames.append(frame)
            nums.append(vals)
            lines.append(lineno)
    arr = np.asarray(nums, np.float64).reshape(-1, 5)
    return CameraDetections(
        frame=np.asarray(frames, np.int64),
        bbox=arr[:, 0:4].copy(),
        score=arr[:, 4].copy(),
        path=os.fspath(path),
        line=np.asarray(lines, np.int64),
    )


_CALIB_KEYS = {
    "P0": ("P0", (3, 4)), "P1": ("P1", (3, 4)), "P2": ("P2", (3, 4)), "P3": ("P3", (3, 4)),
    "R_rect": ("R_rect", (3, 3)), "R0_rect": ("R_rect", (3, 3)),
    "Tr_velo_cam": ("Tr_velo_cam", (3, 4)), "Tr_velo_to_cam": ("Tr_velo_cam", (3, 4)),
    "Tr_imu_velo": ("Tr_imu_velo", (3, 4)), "Tr_imu_to_velo": ("Tr_imu_velo", (3, 4)),
}


def read_calib(path: PathLike) -> Calib:
    """Read a KITTI tracking calibration file.

    Accepts ``KEY: values`` and ``KEY values`` lines; unknown keys are ignored.  ``P2`` is required.

    Raises:
        DecodeError: ``path:line: ...`` for a wrong number of values or a non-numeric value, or
            ``path:0:`` if ``P2`` is missing.
    """
    mats: dict[str, np.ndarray] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(_utf8_lines(fh, path), start=1):
            toks = raw.split()
            if not toks:
                continue
            key = toks[0].rstrip(":")
            if key not in _CALIB_KEYS:
                continue
            name, shape = _CALIB_KEYS[key]
            n = shape[0] * shape[1]
            if len(toks) - 1 != n:
                raise _err(path, lineno, f"{key}: expected {n} values, got {len(toks) - 1}")
            vals = _to_floats(toks[1:], path, lineno, [key] * n)
            mats[name] = np.asarray(vals, np.float64).reshape(shape)
    if "P2" not in mats:
        raise _err(path, 0, "no P2 matrix found")
    return Calib(**mats)


def read_seqmap(path: PathLike) -> list[SeqmapEntry]:
    """Read a seqmap (``seq empty first_frame n_frames`` per line).

    The sequence name is kept as written (e.g. ``"0000"``); the 4th column is taken as the number
    of frames of the sequence (TrackEval's reading), frames ``0 .. n_frames-1``.

    Raises:
        DecodeError: ``path:line: ...`` for a line with fewer than 4 fields or non-integer frames.
    """
    out: list[SeqmapEntry] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(_utf8_lines(fh, path), start=1):
            toks = raw.replace(",", " ").split()
            if not toks:
                continue
            if len(toks) < 4:
                raise _err(path, lineno, f"expected 'seq empty first_frame n_frames', got {len(toks)} fields")
            first = _to_int(toks[2], path, lineno, "first_frame")
            n = _to_int(toks[3], path, lineno, "n_frames")
            if n < 0:
                raise _err(path, lineno, f"n_frames: expected >= 0, got {n}")
            out.append(SeqmapEntry(toks[0], first, n))
    return out


def _fmt_level(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.6f}"


def write_results(path: PathLike, rows: TrackRows) -> None:
    """Write tracker results in ``label_02`` format with a trailing score column (18 fields).

    Rows are written in the given order (sort by frame first if needed).  NaN scores are written
    as 1.  Floats use 6 decimals.  Parent directories must exist.
    """
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(len(rows)):
            score = rows.score[i]
            if not np.isfinite(score):
                score = 1.0
            b, d, p = rows.bbox[i], rows.dims[i], rows.loc[i]
            fh.write(
                f"{int(rows.frame[i])} {int(rows.track_id[i])} {rows.type[i]} {_fmt_level(rows.truncated[i])} "
                f"{int(rows.occluded[i])} {rows.alpha[i]:.6f} {b[0]:.6f} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f} "
                f"{d[0]:.6f} {d[1]:.6f} {d[2]:.6f} {p[0]:.6f} {p[1]:.6f} {p[2]:.6f} {rows.rotation_y[i]:.6f} "
                f"{score:.6f}\n"
            )


def _wrap_angle(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def camera_box_to_generic(boxes: np.ndarray) -> np.ndarray:
    """KITTI camera boxes ``(h, w, l, x, y, z, ry)`` to generic z-up boxes ``(x, y, z, yaw, l, w, h)``.

    Args:
        boxes: (..., 7) sizes in metres, bottom-face centre in the rectified camera frame (metres),
            ``ry`` in radians.
    Returns:
        (..., 7) box centre in the z-up frame ``X = z_cam, Y = -x_cam, Z = -y_cam`` (metres),
        ``yaw = -ry - pi/2`` wrapped to [-pi, pi) (radians), then ``l, w, h`` (metres).
    """
    b = np.asarray(boxes, np.float64)
    if b.shape[-1] != 7:
        raise ShapeError(f"boxes: expected shape (..., 7) as (h, w, l, x, y, z, ry), got {b.shape}")
    h, w, l, x, y, z, ry = np.moveaxis(b, -1, 0)
    return np.stack([z, -x, h / 2.0 - y, _wrap_angle(-ry - np.pi / 2.0), l, w, h], axis=-1)


def generic_to_camera_box(boxes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`camera_box_to_generic`: ``(x, y, z, yaw, l, w, h)`` to ``(h, w, l, x, y, z, ry)``.

    ``ry = -yaw - pi/2`` wrapped to [-pi, pi); the camera ``y`` is the bottom of the box.
    """
    b = np.asarray(boxes, np.float64)
    if b.shape[-1] != 7:
        raise ShapeError(f"boxes: expected shape (..., 7) as (x, y, z, yaw, l, w, h), got {b.shape}")
    X, Y, Z, yaw, l, w, h = np.moveaxis(b, -1, 0)
    return np.stack([h, w, l, -Y, h / 2.0 - Z, X, _wrap_angle(-yaw - np.pi / 2.0)], axis=-1)
