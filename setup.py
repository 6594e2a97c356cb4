"""Build the optional compiled access core; all metadata is in pyproject.toml.

``racedet._access`` (racedet/_access.c) is optional: when it cannot be built
(no compiler, no Python headers, a free-threaded or non-CPython interpreter)
the install still succeeds and racedet uses the pure-Python core,
racedet/access_py.py.  ``RACEDET_CORE=py|c`` chooses at run time.  The other extensions are optional
the same way: racedet._lifetime (racedet/_lifetime.c) and racedet._stack
(racedet/_stack.c, which needs CPython's internal headers on 3.11+).
"""

import platform

from setuptools import Extension, setup


def _want_extension() -> bool:
    if platform.python_implementation() != "CPython":
        return False
    import sysconfig

    # Free-threaded builds (PEP 703) are not supported by the C core.
    return not sysconfig.get_config_var("Py_GIL_DISABLED")


ext_modules = []
if _want_extension():
    ext_modules.append(
        Extension(
            "racedet._access",
            ["racedet/_access.c"],
            optional=True,
        )
    )
    # Shadow memory's deallocation watch for objects without weakref support
    # (racedet/_lifetime.c); without it the engine holds such objects.
    ext_modules.append(Extension("racedet._lifetime", ["racedet/_lifetime.c"], optional=True))
    # The program's main code evaluated with python's stack below it, not
    # racedet's launcher frames (racedet/_stack.c); without it racedet.runner
    # hides those frames where it can, in Python.
    ext_modules.append(Extension("racedet._stack", ["racedet/_stack.c"], optional=True))

setup(ext_modules=ext_modules)
