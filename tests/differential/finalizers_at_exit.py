# differential: xfail=issue 11 section 3: an instrumented __del__ run at interpreter shutdown fails with NameError (rewriter/hooks)
import atexit
import weakref


class Res:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        print("del", self.name)


keep = Res("global")
weakref.finalize(keep, print, "finalize")
atexit.register(print, "atexit")
tmp = Res("temporary")
del tmp
print("end of main")
