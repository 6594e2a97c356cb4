"""A SQLite write transaction orders the threads that take it (diskcache 5.6.3:
``Cache._txn_id`` written inside ``BEGIN IMMEDIATE`` ... ``COMMIT``, core.py
lines 723 and 742; issue 10 section 3).

    python -m racedet realworld/repro/sqlite_transaction.py   # reports Cache.txn_id

Each thread has its own connection to one database file; ``BEGIN IMMEDIATE``
takes the database's write lock until ``COMMIT``, so the writes of
``txn_id`` inside two transactions are ordered, as under a mutex.  (diskcache
also reads ``_txn_id`` before BEGIN, line 714: that read is a true race.)
Expected clean.
"""

import os
import sqlite3
import tempfile
import threading


class Cache:
    pass


cache = Cache()
cache.txn_id = None
path = os.path.join(tempfile.mkdtemp(), "db.sqlite")
sqlite3.connect(path).execute("CREATE TABLE t (v)").connection.commit()


def worker():
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    for _ in range(50):
        con.execute("BEGIN IMMEDIATE")
        cache.txn_id = threading.get_ident()
        con.execute("INSERT INTO t VALUES (1)")
        cache.txn_id = None
        con.execute("COMMIT")
    con.close()


ts = [threading.Thread(target=worker) for _ in range(2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("ok")
