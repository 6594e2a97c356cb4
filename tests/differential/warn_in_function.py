import warnings


def f():
    warnings.warn("from f")
    warnings.warn("from caller", stacklevel=2)


f()
warnings.warn("zero", stacklevel=0)
