import threading


def work():
    {}["k"]


t = threading.Thread(target=work, name="worker")
t.start()
t.join()
print("main goes on")
