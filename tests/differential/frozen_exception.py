# A frozen-dataclass exception refuses every setattr, __traceback__ included: python
# sets it below __setattr__, and so must racedet, both where a model re-raises it
# (a future's result, a queue's timeout) and where the uncaught one is printed.
import concurrent.futures
import dataclasses
import threading


@dataclasses.dataclass(frozen=True)
class FrozenError(Exception):
    code: int = 0


def task():
    raise FrozenError(1)


alive = threading.Event()
threading.Thread(target=alive.wait, daemon=True).start()
with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
    future = pool.submit(task)
try:
    future.result()
except FrozenError as e:
    print("caught", e.code, e.__traceback__ is not None)
alive.set()
raise FrozenError(2)
