# differential: xfail=noticed: warnings.warn is racedet's Python wrapper while the program runs (it attributes stacklevels past the top as python does) (runner)
import warnings

print(warnings.warn)
