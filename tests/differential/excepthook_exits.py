import sys


def hook(etype, value, tb):
    print("hook exits")
    sys.exit(7)


sys.excepthook = hook
raise ValueError("original")
