import warnings

warnings.simplefilter("error")
try:
    warnings.warn("boom", stacklevel=5)
except UserWarning as e:
    print("caught", e)
warnings.warn("uncaught")
