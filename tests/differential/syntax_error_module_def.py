# differential: form=module
# A module that does not compile, run with -m: python shows runpy's and importlib's frames.
def f(:
    pass
