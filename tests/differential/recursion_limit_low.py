# The program may lower the limit to what python's main needs; racedet still finishes and reports.
import sys, atexit
atexit.register(lambda: print("atexit", sys.getrecursionlimit()))
sys.setrecursionlimit(16)
print("set")
