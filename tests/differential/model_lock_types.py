import _thread
import threading

print(isinstance(threading.Lock(), _thread.LockType))
try:
    threading.Lock().acquire(blocking="yes")
except TypeError as e:
    print("TypeError", e)
