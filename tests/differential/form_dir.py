# differential: form=dir
import sys

print(__name__, __file__, repr(__package__), __spec__.name, type(__loader__).__name__, sys.argv, sys.path[0])
1 / 0
