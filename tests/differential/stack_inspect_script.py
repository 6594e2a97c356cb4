import inspect
import sys


def where():
    return [(f.function, f.lineno) for f in inspect.stack()]


print(where())
print(sys._getframe().f_back)
print(inspect.currentframe().f_back)
