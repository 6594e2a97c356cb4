"""A correctly synchronized crawler-like workload: zero reports under racedet.

A ThreadPoolExecutor "fetches" pages (from an in-memory site), a lock guards
the shared visited set and statistics, and results flow back through futures.
"""

import concurrent.futures
import threading

SITE = {f"/page{i}": [f"/page{(i * 7 + k) % 60}" for k in range(3)] for i in range(60)}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.fetched = 0
        self.links = 0

    def record(self, n_links):
        with self.lock:
            self.fetched += 1
            self.links += n_links


class Crawler:
    def __init__(self, workers=4):
        self.visited = set()
        self.visited_lock = threading.Lock()
        self.stats = Stats()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)

    def fetch(self, url):
        links = SITE.get(url, [])
        self.stats.record(len(links))
        return url, links

    def claim(self, url):
        with self.visited_lock:
            if url in self.visited:
                return False
            self.visited.add(url)
            return True

    def crawl(self, start):
        pending = set()
        if self.claim(start):
            pending.add(self.pool.submit(self.fetch, start))
        while pending:
            done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for fut in done:
                url, links = fut.result()
                for link in links:
                    if self.claim(link):
                        pending.add(self.pool.submit(self.fetch, link))
        self.pool.shutdown(wait=True)
        return self.stats


def main():
    stats = Crawler().crawl("/page0")
    print(f"fetched {stats.fetched} pages, {stats.links} links")


if __name__ == "__main__":
    main()
