# differential: xfail=issue 11 section 2: attributes injected into Thread objects show in vars(t) (models)
import threading

t = threading.Thread(target=print)
t.start()
t.join()
print(sorted(vars(t)))
