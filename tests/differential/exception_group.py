# differential: python>=3.11
def f():
    raise ExceptionGroup("many", [ValueError("a"), TypeError("b")])


f()
