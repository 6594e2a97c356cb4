class C:
    def __init__(self):
        self.d = {}


def f(c):
    return c.d["missing"]


def g():
    try:
        f(C())
    except KeyError as e:
        raise RuntimeError("wrapped") from e


g()
