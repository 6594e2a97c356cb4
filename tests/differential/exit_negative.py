# differential: xfail-on=3.12,3.13 CPython 3.12.1/3.13.0 leave an error set after SystemExit (gh-125842); it surfaces in the exit-time threading._shutdown(), which racedet has already called once
import sys
sys.exit(-2 ** 63 - 5)
