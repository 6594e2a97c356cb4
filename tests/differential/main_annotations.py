# Python's __main__ starts with __annotations__ = {} (and the other module attributes).
import sys

print(sorted(vars(sys.modules["__main__"])))
