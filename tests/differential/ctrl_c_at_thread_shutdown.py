# differential: racedet-options=--no-leaks
# Ctrl-C while python waits for a non-daemon thread at exit: reported as unraisable, exit 0.
import os
import signal
import sys
import threading
import time

main = threading.main_thread()
done = threading.Event()


def worker():
    while True:  # wait until the main thread waits for us in threading._shutdown
        f = sys._current_frames().get(main.ident)
        if f is not None and f.f_code.co_name == "_shutdown":
            break
        time.sleep(0.01)
    time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGINT)
    done.wait(0.2)


threading.Thread(target=worker).start()
print("main done")
