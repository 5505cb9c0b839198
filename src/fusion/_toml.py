"""Reading a TOML configuration file with errors that name it (shared by the config loaders)."""

from __future__ import annotations

import os
import tomllib
from typing import Any

from fusion.errors import ConfigurationError


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed TOML file. Raises ConfigurationError starting with the file name for invalid
    TOML and for a file that is not UTF-8 text; OSError if it cannot be opened."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{os.fspath(path)}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array / inline table
        raise ConfigurationError(f"{os.fspath(path)}: invalid TOML: arrays or inline tables nested too "
                                 "deeply") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8 (tomllib decodes the whole file first)
        raise ConfigurationError(f"{os.fspath(path)}: not UTF-8 text (byte 0x{exc.object[exc.start]:02X} at "
                                 f"offset {exc.start}): invalid TOML") from None
