import sys
import traceback


def hook(etype, value, tb):
    print("hook:", etype.__name__, value, len(traceback.extract_tb(tb)))
    print("excepthook is hook:", sys.excepthook is hook)
    print("last_value:", sys.last_value is value)


sys.excepthook = hook


def f():
    1 / 0


f()
