"""Attribute-heavy: bank accounts and a hot-account LRU cache updated under locks by 4 threads.

This is the worst case for attribute instrumentation: almost every bytecode
is an attribute load or store on shared objects (``acct.balance``,
``node.prev.next``), each of them properly protected by a
``threading.Lock``.  The self-check at the end (money is conserved, every
transfer counted) makes a lost update visible.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import _workload

SIZES = {"full": 20_000, "quick": 500, "tiny": 200}  # transfers per thread
THREADS = 4
ACCOUNTS = 64
CACHE_SIZE = 16
START_BALANCE = 1_000


class Account:
    """One account; its own lock protects every field."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.lock = threading.Lock()
        self.balance = START_BALANCE
        self.deposits = 0
        self.withdrawals = 0
        self.last_peer = -1


class Node:
    """A doubly-linked LRU node."""

    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key: int, value: object) -> None:
        self.key = key
        self.value = value
        self.prev: Node | None = None
        self.next: Node | None = None


class LRUCache:
    """A hot-account cache (dict + doubly-linked list), as a real service would keep; one lock."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.lock = threading.Lock()
        self.map: dict[int, Node] = {}
        self.head = Node(-1, None)  # sentinel: head.next is the most recent
        self.tail = Node(-1, None)
        self.head.next = self.tail
        self.tail.prev = self.head
        self.hits = 0
        self.misses = 0

    def _unlink(self, node: Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: Node) -> None:
        node.next = self.head.next
        node.prev = self.head
        self.head.next.prev = node
        self.head.next = node

    def get(self, key: int, load: Callable[[int], object]) -> object:
        with self.lock:
            node = self.map.get(key)
            if node is not None:
                self.hits += 1
                self._unlink(node)
                self._push_front(node)
                return node.value
            self.misses += 1
            node = Node(key, load(key))
            self.map[key] = node
            self._push_front(node)
            if len(self.map) > self.capacity:
                old = self.tail.prev
                self._unlink(old)
                del self.map[old.key]
            return node.value


class Bank:
    """The accounts, the hot-account cache and global counters (under ``stats_lock``)."""

    def __init__(self, n: int) -> None:
        self.accounts = [Account(i) for i in range(n)]
        self.cache = LRUCache(CACHE_SIZE)
        self.stats_lock = threading.Lock()
        self.transfers = 0
        self.refused = 0

    def profile(self, number: int) -> tuple:
        return ("customer", number, number % 7)

    def transfer(self, src: int, dst: int, amount: int) -> bool:
        if src == dst:
            return False
        self.cache.get(src, self.profile)
        a, b = self.accounts[src], self.accounts[dst]
        first, second = (a, b) if a.number < b.number else (b, a)  # lock order: no deadlock
        with first.lock, second.lock:
            ok = a.balance >= amount
            if ok:
                a.balance -= amount
                a.withdrawals += 1
                a.last_peer = b.number
                b.balance += amount
                b.deposits += 1
                b.last_peer = a.number
        with self.stats_lock:
            if ok:
                self.transfers += 1
            else:
                self.refused += 1
        return ok


def teller(bank: Bank, seed: int, n: int) -> None:
    x = seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF  # a small LCG: deterministic, no random module
        src = x % ACCOUNTS
        dst = (x >> 8) % ACCOUNTS
        bank.transfer(src, dst, 1 + (x >> 16) % 50)


def main() -> None:
    args = _workload.parse(__doc__.splitlines()[0], SIZES)
    bank = Bank(ACCOUNTS)
    threads = [threading.Thread(target=teller, args=(bank, 17 + i, args.size))
               for i in range(THREADS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    total = sum(a.balance for a in bank.accounts)
    _workload.check(total == ACCOUNTS * START_BALANCE, f"money not conserved: {total}")
    moves = sum(a.deposits for a in bank.accounts)
    _workload.check(moves == bank.transfers, f"{moves} deposits but {bank.transfers} transfers")
    lookups = bank.cache.hits + bank.cache.misses
    _workload.check(lookups == bank.transfers + bank.refused, f"{lookups} cache lookups")
    _workload.report(seconds, ops=THREADS * args.size, transfers=bank.transfers,
                     refused=bank.refused)


if __name__ == "__main__":
    main()
