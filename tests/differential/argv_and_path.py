# differential: args=a --b -m "c d"
import os
import sys

print(__name__, sys.argv)
print(__file__, os.path.isabs(__file__))
print(sys.path[0] == os.path.dirname(os.path.realpath(__file__)))
print(__package__, __spec__, type(__loader__).__name__, __cached__)
