# differential: form=module
import atexit
import gc
import sys


def gen():
    yield sys._getframe()
    yield 2


g = gen()
kept = next(g)
try:
    raise ValueError("kept")
except ValueError as e:
    err = e
gc.collect()


def later():
    gc.collect()
    tb = err.__traceback__
    back = tb.tb_frame.f_back
    print(tb.tb_frame.f_code.co_name, back and back.f_code.co_name)
    print(kept.f_back, next(g))
    f = tb.tb_frame
    print(f.f_globals is globals(), f.f_lineno)


atexit.register(later)
print(sys._getframe().f_back)
