"""HIL harness: CAN logs and buses through the fusion engine (see docs/ARCHITECTURE.md).

- :mod:`fusion.hil.logs`: read CAN logs in every python-can format, merged by time, channels remapped.
- :mod:`fusion.hil.dbc`: DBC files through cantools.
- :mod:`fusion.hil.canfast`: the compiled (Cython) signal decoder, identical to cantools' values.
- :mod:`fusion.hil.decoders`: decoders by registry key (object lists, vehicle motion).
- :mod:`fusion.hil.errors`: the harness's typed errors (file and line, CAN id and timestamp).

Only this subpackage imports python-can and cantools; the core never does.
"""
