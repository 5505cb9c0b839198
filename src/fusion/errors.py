"""Errors raised by fusion.

One root, :class:`FusionError`; every child also inherits the matching built-in exception,
so ``except ValueError`` keeps working for code written against filterpy or numpy.
Messages say which argument was wrong, what was expected (with units) and what arrived.
"""

from __future__ import annotations

__all__ = [
    "FusionError",
    "ShapeError",
    "NumericalError",
    "ConfigurationError",
    "TimestampError",
    "InfeasibleError",
    "DecodeError",
    "TrackListError",
    "BusError",
    "ConcurrentUseError",
]


class FusionError(Exception):
    """Root of every error fusion raises on purpose."""


class ShapeError(FusionError, ValueError):
    """An array does not have the shape (or dtype) an operation needs."""


class NumericalError(FusionError, ArithmeticError):
    """A non-finite measurement, or a covariance that is not symmetric positive definite."""


class ConfigurationError(FusionError, ValueError):
    """A configuration value or registry key is invalid."""


class TimestampError(FusionError, ValueError):
    """A timestamp is not what an operation needs: not an integer number of nanoseconds (a
    float, a bool, a value outside int64), or earlier than the time a tracker has reached
    (a step going backwards, a sensor frame older than the engine's latest in strict mode).
    The message names the argument."""


class InfeasibleError(FusionError, ValueError):
    """A problem has no solution under its constraints (e.g. an assignment cost matrix in which
    no complete assignment avoids the forbidden pairs)."""


class TrackListError(FusionError, ValueError):
    """A source's track list is inconsistent: a track id repeated within one list (the
    message names the source and the id)."""


class DecodeError(FusionError, ValueError):
    """A recorded log or CAN frame could not be decoded."""


class BusError(FusionError, OSError):
    """A CAN bus could not be opened, read or written."""


class ConcurrentUseError(FusionError, RuntimeError):
    """A call that one thread at a time may make (an object's documented "one feeder" calls) was
    made while another thread was inside one; the call is refused and changes nothing."""
