# sys.exit("msg") prints the message as the main program ends, before python waits for threads.
import sys
import threading
import time

main = threading.main_thread()


def worker():
    while True:  # until the main thread waits for us in threading._shutdown
        f = sys._current_frames().get(main.ident)
        if f is not None and f.f_code.co_name == "_shutdown":
            break
        time.sleep(0.01)
    print("worker after the message", file=sys.stderr)


threading.Thread(target=worker).start()
sys.exit("bye")
