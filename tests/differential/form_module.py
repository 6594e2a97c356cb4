# differential: form=module
import sys

print(__name__, __file__, __package__, __spec__.name, sys.argv)


def f():
    1 / 0


f()
