# differential: xfail=noticed: racedet's launcher frames below __main__ show in traceback.extract_stack() / sys._getframe (runner)
import sys
import traceback

print(len(traceback.extract_stack()))
try:
    sys._getframe(1)
except ValueError as e:
    print("ValueError", e)
