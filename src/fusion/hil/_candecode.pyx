# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled CAN signal decoder: the fast path of fusion.hil (see canfast.py for the public API).

A DBC database's signal layouts are compiled once (by canfast.py, from cantools objects) into flat
tables: per message its frame id, payload length and a slice of the signal table; per signal its
bit position, length, byte order, signedness, float flag, scale and offset.  Decoding a frame is
then a lookup (binary search over the sorted ids) and, per signal, a few shifts and one
``raw * scale + offset`` in double precision, the same operation cantools performs in Python, so
the values are identical.  No Python objects are touched inside the loops; the GIL is released.

Bit numbering (as in cantools): a little-endian signal's ``start`` is its least significant bit
in lsb0 numbering (bit i is bit i % 8 of byte i // 8); a big-endian signal's DBC start bit is
its most significant bit in the "sawtooth" numbering, which canfast.py converts to the msb0 index
(byte * 8 + (7 - bit)) that is stored here as ``start``.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

import numpy as np

cdef extern from *:
    """
    static inline double fusion_nan(void) { return __builtin_nan(""); }
    """
    double fusion_nan() nogil

# Status codes written per frame by decode_batch / returned by decode_one (>= 0: message index).
cdef enum:
    C_UNKNOWN_ID = -1
    C_WRONG_LENGTH = -2
UNKNOWN_ID = C_UNKNOWN_ID
WRONG_LENGTH = C_WRONG_LENGTH


cdef inline uint64_t _extract(const uint8_t* d, int32_t start, int32_t length, int32_t big) noexcept nogil:
    cdef uint64_t acc = 0
    cdef uint64_t mask
    cdef int32_t first, last, i, k, bit
    if length >= 64:
        mask = <uint64_t>0xFFFFFFFFFFFFFFFF
    else:
        mask = ((<uint64_t>1) << length) - 1
    if big:
        first = start >> 3
        last = (start + length - 1) >> 3
        if (start & 7) + length <= 64:
            for i in range(first, last + 1):
                acc = (acc << 8) | d[i]
            return (acc >> ((last + 1) * 8 - (start + length))) & mask
        for k in range(length):  # wider than one 64-bit window: bit by bit
            bit = start + k
            acc = (acc << 1) | ((d[bit >> 3] >> (7 - (bit & 7))) & 1)
        return acc
    first = start >> 3
    last = (start + length - 1) >> 3
    if (start & 7) + length <= 64:
        i = last
        while i >= first:
            acc = (acc << 8) | d[i]
            i -= 1
        return (acc >> (start & 7)) & mask
    for k in range(length):
        bit = start + k
        acc |= (<uint64_t>((d[bit >> 3] >> (bit & 7)) & 1)) << k
    return acc


cdef inline double _value(uint64_t raw, int32_t length, int32_t is_signed, int32_t is_float,
                          double scale, double offset) noexcept nogil:
    cdef uint32_t bits32
    cdef float f32
    cdef double f64
    cdef double x
    if is_float:
        if length == 32:
            bits32 = <uint32_t>raw
            memcpy(&f32, &bits32, 4)
            x = <double>f32
        else:
            memcpy(&f64, &raw, 8)
            x = f64
    elif is_signed and length < 64 and ((raw >> (length - 1)) & 1):
        x = <double>(<int64_t>(raw | ~(((<uint64_t>1) << length) - 1)))
    elif is_signed:
        x = <double>(<int64_t>raw)
    else:
        x = <double>raw
    return x * scale + offset


cdef class SignalTable:
    """Flat signal tables of one compiled database (built by fusion.hil.canfast.CompiledDbc)."""

    cdef uint32_t[::1] ids
    cdef int32_t[::1] msg_len
    cdef int32_t[::1] sig_begin
    cdef int32_t[::1] start
    cdef int32_t[::1] length
    cdef int32_t[::1] big
    cdef int32_t[::1] signed_
    cdef int32_t[::1] is_float
    cdef double[::1] scale
    cdef double[::1] offset
    cdef readonly int32_t n_messages
    cdef readonly int32_t max_signals
    cdef readonly int32_t max_length
    cdef double[::1] _scratch
    cdef readonly object scratch
    cdef double[::1] lo
    cdef double[::1] hi
    cdef readonly bint has_ranges

    def __init__(self, uint32_t[::1] ids, int32_t[::1] msg_len, int32_t[::1] sig_begin,
                 int32_t[::1] start, int32_t[::1] length, int32_t[::1] big, int32_t[::1] signed_,
                 int32_t[::1] is_float, double[::1] scale, double[::1] offset):
        cdef Py_ssize_t m, s
        if msg_len.shape[0] != ids.shape[0] or sig_begin.shape[0] != ids.shape[0] + 1:
            raise ValueError("message tables disagree in length")
        n = start.shape[0]
        if (length.shape[0] != n or big.shape[0] != n or signed_.shape[0] != n or is_float.shape[0] != n
                or scale.shape[0] != n or offset.shape[0] != n):
            raise ValueError("signal tables disagree in length")
        for m in range(1, ids.shape[0]):
            if ids[m] <= ids[m - 1]:
                raise ValueError("frame ids must be strictly increasing")
        self.max_signals = 0
        self.max_length = 0
        for m in range(ids.shape[0]):
            if sig_begin[m] > sig_begin[m + 1] or sig_begin[m + 1] > n:
                raise ValueError("sig_begin is not a partition of the signal table")
            if not 0 < msg_len[m] <= 64:
                raise ValueError("payload length must be in 1..64 bytes")
            self.max_signals = max(self.max_signals, sig_begin[m + 1] - sig_begin[m])
            self.max_length = max(self.max_length, msg_len[m])
            for s in range(sig_begin[m], sig_begin[m + 1]):
                if not (0 < length[s] <= 64 and start[s] >= 0 and start[s] + length[s] <= 8 * msg_len[m]):
                    raise ValueError(f"signal {s} does not fit in message {m}")
        if sig_begin[0] != 0 or sig_begin[ids.shape[0]] != n:
            raise ValueError("sig_begin is not a partition of the signal table")
        self.ids, self.msg_len, self.sig_begin = ids, msg_len, sig_begin
        self.start, self.length, self.big, self.signed_ = start, length, big, signed_
        self.is_float, self.scale, self.offset = is_float, scale, offset
        self.n_messages = <int32_t>ids.shape[0]
        self.scratch = np.zeros(max(self.max_signals, 1), dtype=np.float64)
        self._scratch = self.scratch

    def set_ranges(self, double[::1] lo, double[::1] hi):
        """Per-signal [lo, hi] of the DBC (-inf/inf where it gives none), in table order, for
        :meth:`check_range`."""
        if lo.shape[0] != self.start.shape[0] or hi.shape[0] != self.start.shape[0]:
            raise ValueError("range tables disagree in length with the signal table")
        self.lo, self.hi = lo, hi
        self.has_ranges = True

    def check_range(self, int32_t m):
        """After decode_scratch returned m: the index (within message m) of the first signal in
        scratch outside its [lo, hi], or -1 (also without ranges).  NaN is outside."""
        cdef int32_t s, j = 0
        cdef double v
        if not self.has_ranges or m < 0 or m >= self.n_messages:
            return -1
        for s in range(self.sig_begin[m], self.sig_begin[m + 1]):
            v = self._scratch[j]
            if not (self.lo[s] <= v <= self.hi[s]):
                return j
            j += 1
        return -1

    cdef inline int32_t _find(self, uint32_t frame_id) noexcept nogil:
        cdef int32_t lo = 0
        cdef int32_t hi = self.n_messages - 1
        cdef int32_t mid
        while lo <= hi:
            mid = (lo + hi) >> 1
            if self.ids[mid] < frame_id:
                lo = mid + 1
            elif self.ids[mid] > frame_id:
                hi = mid - 1
            else:
                return mid
        return -1

    cdef inline void _decode(self, int32_t m, const uint8_t* d, double* out) noexcept nogil:
        cdef int32_t s, j = 0
        for s in range(self.sig_begin[m], self.sig_begin[m + 1]):
            out[j] = _value(_extract(d, self.start[s], self.length[s], self.big[s]), self.length[s],
                            self.signed_[s], self.is_float[s], self.scale[s], self.offset[s])
            j += 1

    def find(self, uint32_t frame_id):
        """Index of the message with this frame id, or -1."""
        return self._find(frame_id)

    def decode_one(self, uint32_t frame_id, const uint8_t[::1] data, double[::1] out):
        """Decode one frame into out[:n_signals]; returns the message index, UNKNOWN_ID or WRONG_LENGTH."""
        cdef int32_t m = self._find(frame_id)
        if m < 0:
            return UNKNOWN_ID
        if data.shape[0] != self.msg_len[m]:
            return WRONG_LENGTH
        if out.shape[0] < self.sig_begin[m + 1] - self.sig_begin[m]:
            raise ValueError("out is shorter than the message's signal count")
        self._decode(m, &data[0], &out[0])
        return m

    def decode_scratch(self, uint32_t frame_id, bytes data):
        """Decode one frame into the table's own ``scratch`` array (no allocation, no buffer
        acquisition: the per-frame path of the decoders).  Returns the message index,
        UNKNOWN_ID or WRONG_LENGTH.  Not for concurrent use: scratch is shared."""
        cdef int32_t m = self._find(frame_id)
        if m < 0:
            return C_UNKNOWN_ID
        if len(data) != self.msg_len[m]:
            return C_WRONG_LENGTH
        self._decode(m, <const uint8_t*><const char*>data, &self._scratch[0])
        return m

    def decode_batch(self, const uint32_t[::1] frame_ids, const uint8_t[:, ::1] data,
                     const int32_t[::1] lengths, double[:, ::1] out, int32_t[::1] status):
        """Decode N frames: data[i, :lengths[i]] is frame i's payload.  Row i of out receives the
        message's signals in table order (NaN past them and for frames that fail); status[i] is
        the message index, UNKNOWN_ID or WRONG_LENGTH.  Returns the number of decoded frames."""
        cdef Py_ssize_t n = frame_ids.shape[0]
        cdef Py_ssize_t i, j
        cdef int32_t m, ns
        cdef Py_ssize_t decoded = 0
        cdef Py_ssize_t width = out.shape[1]
        if data.shape[0] != n or lengths.shape[0] != n or out.shape[0] != n or status.shape[0] != n:
            raise ValueError("frame_ids, data, lengths, out and status must have the same length")
        if width < self.max_signals:
            raise ValueError(f"out needs at least {self.max_signals} columns")
        if n == 0:
            return 0
        if data.shape[1] < self.max_length:
            raise ValueError(f"data needs at least {self.max_length} columns")
        with nogil:
            for i in range(n):
                m = self._find(frame_ids[i])
                if m < 0:
                    status[i] = C_UNKNOWN_ID
                    ns = 0
                elif lengths[i] != self.msg_len[m]:
                    status[i] = C_WRONG_LENGTH
                    ns = 0
                else:
                    status[i] = m
                    ns = self.sig_begin[m + 1] - self.sig_begin[m]
                    self._decode(m, &data[i, 0], &out[i, 0])
                    decoded += 1
                for j in range(ns, width):
                    out[i, j] = fusion_nan()
        return decoded
