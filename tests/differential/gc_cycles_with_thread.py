import gc
import threading

gc.collect()
ev = threading.Event()
t = threading.Thread(target=ev.wait)
t.start()
x = []
x.append(x)
del x
print(gc.collect())
ev.set()
t.join()
