"""Producer/consumer pipeline: log lines -> parse -> enrich -> aggregate over ``queue.Queue``.

Each record is a dict built by one stage and handed to the next through a
bounded queue (back-pressure, as a real pipeline has), so ownership moves
between threads and the only synchronization is the queue itself: the
put/get happens-before edge.  Two parser threads share one input queue;
shutdown uses one sentinel per consumer.
"""

from __future__ import annotations

import queue
import threading
import time

import _workload

SIZES = {"full": 60_000, "quick": 1_000, "tiny": 200}  # records
PARSERS = 2
QUEUE_BOUND = 256
DONE = None  # sentinel
METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
PATHS = ("/", "/login", "/api/items", "/api/items/42", "/static/app.js", "/health")


def produce(out: queue.Queue, n: int) -> None:
    """Stage 0: emit raw access-log lines."""
    for i in range(n):
        method = METHODS[i % len(METHODS)]
        path = PATHS[(i * 7) % len(PATHS)]
        status = 200 if i % 13 else 500
        out.put(f"10.0.{i % 256}.{(i * 31) % 256} {method} {path} {status} {100 + (i * 37) % 9000}")
    for _ in range(PARSERS):
        out.put(DONE)


def parse(inq: queue.Queue, out: queue.Queue) -> None:
    """Stage 1 (two threads): split a line into a record dict."""
    while True:
        line = inq.get()
        if line is DONE:
            out.put(DONE)
            return
        ip, method, path, status, size = line.split()
        out.put({"ip": ip, "method": method, "path": path,
                 "status": int(status), "bytes": int(size)})


def enrich(inq: queue.Queue, out: queue.Queue) -> None:
    """Stage 2: derive fields in place (the record now belongs to this thread)."""
    finished = 0
    while finished < PARSERS:
        rec = inq.get()
        if rec is DONE:
            finished += 1
            continue
        rec["subnet"] = rec["ip"].rsplit(".", 1)[0]
        rec["route"] = "/api" if rec["path"].startswith("/api") else rec["path"]
        rec["error"] = rec["status"] >= 500
        rec["kb"] = rec["bytes"] // 1024
        out.put(rec)
    out.put(DONE)


class Totals:
    def __init__(self) -> None:
        self.records = 0
        self.errors = 0
        self.bytes = 0
        self.by_route: dict[str, int] = {}
        self.by_subnet: dict[str, int] = {}


def aggregate(inq: queue.Queue, totals: Totals) -> None:
    """Stage 3: fold records into totals, read by the main thread after join."""
    while True:
        rec = inq.get()
        if rec is DONE:
            return
        totals.records += 1
        totals.errors += rec["error"]
        totals.bytes += rec["bytes"]
        totals.by_route[rec["route"]] = totals.by_route.get(rec["route"], 0) + 1
        totals.by_subnet[rec["subnet"]] = totals.by_subnet.get(rec["subnet"], 0) + 1


def main() -> None:
    args = _workload.parse(__doc__.splitlines()[0], SIZES)
    lines: queue.Queue = queue.Queue(QUEUE_BOUND)
    parsed: queue.Queue = queue.Queue(QUEUE_BOUND)
    enriched: queue.Queue = queue.Queue(QUEUE_BOUND)
    totals = Totals()
    threads = [threading.Thread(target=produce, args=(lines, args.size))]
    threads += [threading.Thread(target=parse, args=(lines, parsed)) for _ in range(PARSERS)]
    threads.append(threading.Thread(target=enrich, args=(parsed, enriched)))
    threads.append(threading.Thread(target=aggregate, args=(enriched, totals)))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    _workload.check(totals.records == args.size, f"{totals.records} of {args.size} records")
    _workload.check(sum(totals.by_route.values()) == args.size, "route counts")
    _workload.report(seconds, ops=args.size, errors=totals.errors)


if __name__ == "__main__":
    main()
