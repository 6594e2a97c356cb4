# differential: form=pyz args=x
import sys

print(__name__, __file__, type(__loader__).__name__, sys.argv, sys.path[0])
sys.exit("zipapp done")
