import threading
import warnings

warnings.simplefilter("always")


def work():
    warnings.warn("in thread")
    warnings.warn("thread caller", stacklevel=2)
    warnings.warn("past the thread's top", stacklevel=9)


t = threading.Thread(target=work)
t.start()
t.join()
