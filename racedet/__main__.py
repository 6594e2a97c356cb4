"""``python -m racedet``: see :mod:`racedet.cli`."""

import os
import sys


def _adopt_own_package() -> None:
    """Make ``racedet`` the package this file belongs to, when a namespace package took the name.

    ``python -m`` puts the current directory first on ``sys.path``.  A folder
    named ``racedet`` there that is not the package (the checkout holding the
    project, say) is a namespace package candidate, and it wins over an
    install that a finder after the path finder provides (setuptools'
    editable installs): ``racedet`` then has no ``__init__`` and nothing can
    be imported from it.  This file was found in the real package, so that
    package is loaded under the name instead.
    """
    pkg = sys.modules.get("racedet")
    if pkg is None or getattr(pkg, "__file__", None) is not None:
        return
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "racedet", os.path.join(here, "__init__.py"), submodule_search_locations=[here])
    if spec is None or spec.loader is None:  # pragma: no cover - __init__.py is always there
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["racedet"] = module
    spec.loader.exec_module(module)


_adopt_own_package()

from racedet.cli import main  # noqa: E402 - after the package is the right one
from racedet import runner  # noqa: E402

if runner.stack_ext is not None:
    # Here, in the module runpy runs as __main__, is where python would run a
    # ``-m`` program's module: the recursion depth it runs at, measured by the
    # same call runner.execute's probe makes (racedet/_stack.c).
    depth_seen = runner.stack_ext.depth()
    runner.launch_depth = depth_seen

if __name__ == "__main__":
    sys.exit(main())
