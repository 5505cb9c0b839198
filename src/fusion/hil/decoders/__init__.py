"""CAN decoders by registry key (python-can style: key -> "module:Class", imported on use).

Adding a decoder is one file implementing :class:`fusion.hil.decoders.base.Decoder` plus one
line in :data:`DECODERS`.  Thread safety: the registry is read-only; see each decoder for its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from fusion.errors import ConfigurationError
from fusion.hil.dbc import Database
from fusion.hil.decoders.base import Decoder

__all__ = ["DECODERS", "Decoder", "decoder_class", "make_decoder"]

DECODERS: dict[str, str] = {
    "dbc_object_list": "fusion.hil.decoders.object_list:ObjectListDecoder",
    "vehicle_motion": "fusion.hil.decoders.vehicle_motion:VehicleMotionDecoder",
}


def decoder_class(key: str) -> type[Decoder]:
    """The decoder class registered as ``key``; :class:`ConfigurationError` listing the keys otherwise."""
    if key not in DECODERS:
        raise ConfigurationError(f"unknown decoder {key!r}; available: {', '.join(sorted(DECODERS))}")
    module, _, name = DECODERS[key].partition(":")
    cls: type[Decoder] = getattr(importlib.import_module(module), name)
    return cls


def make_decoder(key: str, db: Database, config: Mapping[str, Any], *, strict: bool = False) -> Decoder:
    """Build the decoder ``key`` for DBC ``db`` from its configuration table."""
    return decoder_class(key)(db, config, strict=strict)
