# Hand-written stubs of the Cython module fusion.hil._candecode (src/fusion/hil/_candecode.pyx).
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

UNKNOWN_ID: int
WRONG_LENGTH: int
__test__: dict[str, str]

@disjoint_base
class SignalTable:
    n_messages: int
    max_signals: int
    max_length: int
    scratch: npt.NDArray[np.float64]
    def __init__(self, ids: Any, msg_len: Any, sig_begin: Any, start: Any, length: Any, big: Any,
                 signed_: Any, is_float: Any, scale: Any, offset: Any) -> None: ...
    def find(self, frame_id: int) -> int: ...
    def decode_one(self, frame_id: int, data: Any, out: Any) -> int: ...
    def decode_scratch(self, frame_id: int, data: bytes) -> int: ...
    def decode_batch(self, frame_ids: Any, data: Any, lengths: Any, out: Any, status: Any) -> int: ...
    def __reduce_cython__(self) -> Any: ...
    def __setstate_cython__(self, state: Any) -> None: ...
