import sys


def hook(etype, value, tb):
    raise RuntimeError("hook broke")


sys.excepthook = hook
raise ValueError("original")
