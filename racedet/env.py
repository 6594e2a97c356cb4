"""Facts about the running Python, named once so the rest of racedet never compares versions.

This is the only module that looks at ``sys.version_info``; everything that
differs between 3.10/3.11 and 3.12+ is a named flag here.
"""

from __future__ import annotations

import sys

PYVERSION = sys.version_info[:2]
PYPY = sys.implementation.name == "pypy"

#: Free-threaded builds (PEP 703) have no GIL to make one bytecode atomic.
GIL = getattr(sys, "_is_gil_enabled", lambda: True)()

#: 3.13+: ``threading.Lock`` is the type ``_thread.lock`` itself, which can be
#: called to make a lock (before: a function, and the type cannot be instantiated).
LOCK_IS_TYPE = PYVERSION >= (3, 13)


class PYBEHAVIOR:
    """Version-dependent behaviours that racedet adapts to."""

    #: 3.11+ prints caret ranges in tracebacks from co_positions (PEP 657), so
    #: rewritten nodes must keep their original column spans, not just lines.
    positions_in_tracebacks = PYVERSION >= (3, 11)

    #: 3.12+ inlines list/set/dict comprehensions into the enclosing function
    #: (PEP 709): they no longer have a frame of their own.
    inlined_comprehensions = PYVERSION >= (3, 12)

    #: 3.12+ has PEP 695 annotation scopes (``def f[T]()``, ``type X = ...``),
    #: which add symbol tables the AST does not show as scopes.
    annotation_scopes = PYVERSION >= (3, 12)

    #: 3.13 joins threads through ``_thread._ThreadHandle`` and waits for
    #: non-daemon threads at exit in C (``_thread._shutdown``).
    thread_handles = PYVERSION >= (3, 13)

    #: Up to 3.12 an uncaught exception of a ``_thread.start_new_thread``
    #: thread goes to ``sys.unraisablehook`` with the started function as
    #: ``object``; 3.13 passes ``object=None`` and names the function by its
    #: repr in ``err_msg``.
    unraisable_names_thread_object = PYVERSION < (3, 13)

    #: 3.11+ bytecode: LOAD_GLOBAL carries inline cache entries and a push-NULL
    #: bit in its argument; PUSH_NULL and COPY exist (3.10: DUP_TOP, ROT_*).
    inline_caches = PYVERSION >= (3, 11)

    #: 3.13 pushes the NULL of a call after the callable, 3.11/3.12 before it.
    null_after_callable = PYVERSION >= (3, 13)

    #: Code objects have ``co_qualname`` (3.11+); earlier, only ``co_name``.
    co_qualname = PYVERSION >= (3, 11)

    #: 3.12+ records an uncaught exception in ``sys.last_exc`` too (beside ``sys.last_value``).
    sys_last_exc = PYVERSION >= (3, 12)

    #: Before 3.13 an exception out of the exit-time ``threading._shutdown()`` is reported
    #: as "Exception ignored in: <module 'threading' ...>"; 3.13 names no object.
    shutdown_error_names_threading = PYVERSION < (3, 13)

    #: A bare ``raise`` re-raises with the exception's ``__traceback__`` as it
    #: stands (3.11+); 3.10 re-raises the traceback it caught, whatever
    #: ``__traceback__`` says.
    reraise_reads_traceback = PYVERSION >= (3, 11)
    #: ``functools.cached_property`` computes under a lock of its own up to
    #: 3.11 (the second caller waits, then finds the value); 3.12 removed the
    #: lock (gh-87634), so concurrent first calls both run the function.
    cached_property_lock = PYVERSION < (3, 12)


def qualname_of(code: object) -> str:
    """The qualified name of a code object on every supported Python."""
    if PYBEHAVIOR.co_qualname:
        return code.co_qualname  # type: ignore[attr-defined]
    return code.co_name  # type: ignore[attr-defined]
