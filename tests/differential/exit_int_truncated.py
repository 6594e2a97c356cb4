# The exit status is the low byte of a C int.
import sys
sys.exit(2 ** 32 + 3)
