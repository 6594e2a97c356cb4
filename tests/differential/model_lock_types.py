# differential: xfail=issue 11 section 4: models differ from the primitives (isinstance LockType, acquire(blocking="yes")) (models)
import _thread
import threading

print(isinstance(threading.Lock(), _thread.LockType))
try:
    threading.Lock().acquire(blocking="yes")
except TypeError as e:
    print("TypeError", e)
