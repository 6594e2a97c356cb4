# threading.Lock / RLock pickle by reference as python's do (multiprocessing's spawn and
# forkserver pickle them: CPython 3.10's test_concurrent_futures starts a Manager).
import multiprocessing
import pickle
import threading

print(pickle.loads(pickle.dumps(threading.Lock)) is threading.Lock,
      pickle.loads(pickle.dumps(threading.RLock)) is threading.RLock)
if __name__ == "__main__":
    manager = multiprocessing.get_context("spawn").Manager()
    print(manager.list([1, 2])[1])
    manager.shutdown()
