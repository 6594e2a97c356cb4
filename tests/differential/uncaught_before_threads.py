# The traceback of an uncaught exception is printed before python waits for threads.
import sys
import threading
import time

main = threading.main_thread()


def worker():
    while True:
        f = sys._current_frames().get(main.ident)
        if f is not None and f.f_code.co_name == "_shutdown":
            break
        time.sleep(0.01)
    print("worker after the traceback", file=sys.stderr)


threading.Thread(target=worker).start()
raise LookupError("main fails")
