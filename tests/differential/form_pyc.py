# differential: form=pyc
import sys

print(__name__, __file__, __spec__, type(__loader__).__name__, __cached__, sys.argv)


def f():
    raise ValueError("from pyc")


f()
