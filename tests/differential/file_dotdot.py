# differential: form=dotdot
# __file__ of sub/../script.py is joined to the cwd, not normalised.
import sys

print(__file__)
print(sys.argv[0])
