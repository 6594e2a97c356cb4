# An uncaught KeyboardInterrupt: traceback, atexit handlers, then death by SIGINT.
import atexit

atexit.register(print, "atexit ran")


def f():
    raise KeyboardInterrupt("stop")


f()
