# sys.exit(2**64): python converts to a C long; what it prints and exits with differs by version.
import sys
sys.exit(2 ** 64)
