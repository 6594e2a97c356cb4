import queue
import threading
import traceback

q = queue.Queue()
try:
    q.get(timeout=0.01)
except queue.Empty:
    traceback.print_exc()
try:
    threading.Lock().release()
except RuntimeError:
    traceback.print_exc()
