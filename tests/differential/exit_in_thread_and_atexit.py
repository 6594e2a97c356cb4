import atexit
import sys
import threading

atexit.register(print, "atexit 1")
atexit.register(print, "atexit 2")
t = threading.Thread(target=sys.exit, args=(5,))
t.start()
t.join()
print("thread's SystemExit ended only the thread")
sys.exit(4)
