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
