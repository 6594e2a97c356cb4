"""An exception whose class forbids setattr, re-raised by a racedet model.

    python -m racedet realworld/repro/frozen_exception_traceback.py

Seen in pebble 5.2.3 (``test_process_pool_frozen_error``): its test raises
a ``@dataclasses.dataclass(frozen=True)`` exception in a pool thread and
expects ``future.result()`` to raise it.  Python sets ``__traceback__``
below ``__setattr__``, so the frozen class does not object; racedet's
models (futures, queues, locks, threads) tidy the traceback with
``exc.__traceback__ = ...`` (frames.hide_own), which goes through the
class's ``__setattr__``: the program gets ``FrozenInstanceError: cannot
assign to field '__traceback__'`` instead of its own exception.
Expected under racedet: the same output as under python ("ok").
"""

import concurrent.futures
import dataclasses


@dataclasses.dataclass(frozen=True)
class FrozenError(Exception):
    pass


def task():
    raise FrozenError()


with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
    future = pool.submit(task)
try:
    future.result()
except FrozenError:
    print("ok")
