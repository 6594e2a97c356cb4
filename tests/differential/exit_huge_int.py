# differential: xfail-on=3.12,3.13 CPython 3.12.1/3.13.0 leave an error set after SystemExit (gh-125842); it surfaces in the exit-time threading._shutdown(), which racedet has already called once
# sys.exit(2**64): python converts to a C long; what it prints and exits with differs by version.
import sys
sys.exit(2 ** 64)
