import sys
import traceback

print(len(traceback.extract_stack()))
try:
    sys._getframe(1)
except ValueError as e:
    print("ValueError", e)
