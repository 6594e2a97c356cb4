import warnings


def deprecated():
    warnings.warn("old", DeprecationWarning, stacklevel=3)


warnings.simplefilter("always")
deprecated()
warnings.warn("deep", stacklevel=10)
warnings.warn("two", stacklevel=2)
warnings.warn("here")
