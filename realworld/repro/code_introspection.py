"""What instrumented code shows to introspection (CPython's test_inspect, 3 failures + 18 errors).

    python realworld/repro/code_introspection.py             # prints the plain answers
    python -m racedet realworld/repro/code_introspection.py  # differs

1. inspect.getclosurevars(f) reads f.__code__.co_names: the rewritten code
   names racedet's hooks and ``__name__``, so ``globals`` gains
   ``__name__`` and ``unbound`` gains the ``@racedet_*`` names
   (test_inspect.TestGetClosureVars: test_name_resolution,
   test_generator_closure, test_method_closure).
2. ``vars(builtins)`` has 18 ``@racedet_*`` entries, and test_inspect's
   test_builtins_have_signatures asks each builtin for a signature (18
   errors, one per name).  Known from issue 11 section 2.
"""

import builtins
import inspect

_global_ref = object()


def f(x):
    return x + _global_ref and len


cv = inspect.getclosurevars(f)
print("globals", sorted(cv.globals))
print("builtins", sorted(cv.builtins))
print("unbound", sorted(cv.unbound))
print("co_names", f.__code__.co_names)
print("racedet names in builtins", sorted(n for n in vars(builtins) if n.startswith("@")))
