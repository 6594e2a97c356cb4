"""``ThreadPoolExecutor.map`` over a CPU-light function: word statistics with dict and list work.

Typical "parallelise a loop" code: the main thread prepares the inputs and a
shared, read-only stop-word table, 4 pool threads compute small per-item
results (local dicts and lists, sorting), and the main thread merges them.
It measures the executor's futures machinery plus dict/list item accesses,
and read-sharing of one table by every worker.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import _workload

SIZES = {"full": 10_000, "quick": 500, "tiny": 100}  # documents
WORKERS = 4
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron "
         "pi rho sigma tau upsilon phi chi psi omega the a of and to in is").split()
STOP = {"the": True, "a": True, "of": True, "and": True, "to": True, "in": True, "is": True}


def make_documents(n: int) -> list:
    docs = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * j) % len(WORDS)] for j in range(40)]
        docs.append(" ".join(words))
    return docs


def analyse(doc: str) -> tuple:
    """Word counts without stop words, the top 3 words, and a length histogram."""
    counts: dict = {}
    lengths = [0] * 10
    for word in doc.split():
        lengths[min(len(word), 9)] += 1
        if STOP.get(word):
            continue
        counts[word] = counts.get(word, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return top, lengths, sum(counts.values())


def main() -> None:
    args = _workload.parse(__doc__.splitlines()[0], SIZES)
    docs = make_documents(args.size)
    t0 = time.perf_counter()
    merged: dict = {}
    histogram = [0] * 10
    kept = 0
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for top, lengths, n in pool.map(analyse, docs):
            for word, count in top:
                merged[word] = merged.get(word, 0) + count
            for i, c in enumerate(lengths):
                histogram[i] += c
            kept += n
    seconds = time.perf_counter() - t0
    _workload.check(sum(histogram) == 40 * args.size, f"histogram total {sum(histogram)}")
    _workload.check(kept <= 40 * args.size and merged, "word counts")
    _workload.report(seconds, ops=args.size, distinct=len(merged))


if __name__ == "__main__":
    main()
