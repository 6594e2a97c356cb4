"""Choose the access core: the compiled one when it is built and allowed, else pure Python.

``RACEDET_CORE=py`` forces the pure-Python core (CI runs the suite with
both); ``RACEDET_CORE=c`` insists on the compiled one and fails loudly if it
is missing.  The choice and the reason for it are kept for the report header.
"""

from __future__ import annotations

import os
from types import ModuleType

from racedet import env
from racedet.exceptions import ConfigError

reason = ""


def _choose() -> ModuleType:
    global reason
    want = os.environ.get("RACEDET_CORE", "").strip().lower()
    if want not in ("", "c", "py"):
        raise ConfigError(f"invalid RACEDET_CORE {want!r} (expected 'c' or 'py')")
    if want != "py" and not env.GIL:
        # The C core relies on the GIL to make each hook atomic.
        if want == "c":
            raise ConfigError("RACEDET_CORE=c but the compiled core needs the GIL (free-threaded build)")
        reason = "compiled core unsupported without the GIL"
    elif want != "py":
        try:
            from racedet import _access  # type: ignore[attr-defined]
        except ImportError as exc:
            if want == "c":
                raise ConfigError(f"RACEDET_CORE=c but the compiled core is missing: {exc}") from None
            reason = "compiled core not built"
        else:
            reason = "compiled core"
            return _access
    else:
        reason = "RACEDET_CORE=py"
    from racedet import access_py

    return access_py


access = _choose()
name = "c" if access.__name__.endswith("_access") else "py"
