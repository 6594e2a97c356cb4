# differential: xfail=issue 11 section 2: __main__.__annotations__ missing for an annotated main script (rewriter)
# Python's __main__ starts with __annotations__ = {} (and the other module attributes).
import sys

print(sorted(vars(sys.modules["__main__"])))
