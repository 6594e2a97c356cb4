"""Synchronization through the operating system: loopback sockets, pipes, file locks, SQLite.

Every model has no-race programs (zero reports) and racy twins (the exact
pair of lines marked ``# R``).  Real time order, where a program needs one,
comes from raw ``_thread`` locks (``gate()``), which create no edge.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers import CORES, expect_race, run_racedet

PRELUDE = """
import _thread, os, socket, sys, threading

class Data:
    pass

data = Data()

def gate():
    g = threading._allocate_lock()
    g.acquire()
    return g

def listener(family=socket.AF_INET, where=("127.0.0.1", 0)):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind(where)
    s.listen()
    return s
"""

NO_RACES = {
    "socketpair sendall recv": """
        a, b = socket.socketpair()
        data.x = 0
        def w():
            data.x = 1
            a.sendall(b"ready")
        t = threading.Thread(target=w); t.start()
        got = b""
        while len(got) < 5:
            got += b.recv(5 - len(got))
        print(data.x)
        t.join()
    """,
    "socketpair ping pong": """
        a, b = socket.socketpair()
        data.x = 0
        def w():
            for i in range(20):
                a.recv(1)
                data.x = getattr(data, "x", 0) + 1
                a.send(b"p")
        t = threading.Thread(target=w); t.start()
        for i in range(20):
            data.x = getattr(data, "x", 0) + 1
            b.send(b"q")
            b.recv(1)
        t.join()
        print(data.x)
    """,
    "socketpair recv_into second write": """
        a, b = socket.socketpair()
        data.x = 0
        def w():
            a.sendall(b"one")
            data.x = 1
            a.sendall(b"two")
        t = threading.Thread(target=w); t.start()
        buf = bytearray(6); view = memoryview(buf); n = 0
        while n < 6:
            n += b.recv_into(view[n:])
        print(data.x)
        t.join()
    """,
    "socketpair makefile": """
        a, b = socket.socketpair()
        data.x = 0
        def w():
            f = a.makefile("wb")
            data.x = 1
            f.write(b"line\\n"); f.flush()
        t = threading.Thread(target=w); t.start()
        print(b.makefile("rb").readline(), data.x)
        t.join()
    """,
    "socketpair datagrams": """
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        def w():
            a.send(b"long message, read in part")
            data.x = 1
            a.send(b"second")
        t = threading.Thread(target=w); t.start()
        b.recv(4)
        b.recv(4)
        print(data.x)
        t.join()
    """,
    "tcp loopback request reply": """
        ls = listener()
        def server():
            c, _ = ls.accept()
            c.recv(3)
            print(data.req)
            data.reply = 2
            c.sendall(b"bye")
            c.close()
        t = threading.Thread(target=server); t.start()
        s = socket.create_connection(ls.getsockname())
        data.req = 1
        s.sendall(b"req")
        got = b""
        while len(got) < 3:
            got += s.recv(3)
        print(data.reply)
        t.join(); s.close(); ls.close()
    """,
    "tcp loopback client connects before accept returns": """
        ls = listener()
        g = gate()
        def server():
            g.acquire()
            c, _ = ls.accept()
            c.recv(1)
            print(data.req)
            c.close()
        t = threading.Thread(target=server); t.start()
        s = socket.create_connection(ls.getsockname())
        data.req = 2
        s.sendall(b"r")
        g.release()
        t.join(); s.close(); ls.close()
    """,
    "tcp wildcard listener": """
        ls = listener(where=("0.0.0.0", 0))
        def server():
            c, _ = ls.accept()
            data.reply = 1
            c.sendall(b"x")
            c.recv(1)
            c.close()
        t = threading.Thread(target=server); t.start()
        s = socket.create_connection(("127.0.0.1", ls.getsockname()[1]))
        s.recv(1)
        print(data.reply)
        s.sendall(b"y")
        t.join(); s.close(); ls.close()
    """,
    "unix socket": """
        import tempfile
        path = os.path.join(tempfile.mkdtemp(), "sock")
        ls = listener(socket.AF_UNIX, path)
        def server():
            for _ in range(2):
                c, _ = ls.accept()
                c.recv(1)
                data.reply = getattr(data, "reply", 0) + 1
                c.sendall(b"x")
                c.close()
        t = threading.Thread(target=server); t.start()
        for _ in range(2):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(b"q")
            s.recv(1)
            print(data.reply)
            s.close()
        t.join(); ls.close()
    """,
    "pipe": """
        r, w = os.pipe()
        data.x = 0
        def writer():
            data.x = 1
            os.write(w, b"go")
        t = threading.Thread(target=writer); t.start()
        got = b""
        while len(got) < 2:
            got += os.read(r, 2)
        print(data.x)
        t.join(); os.close(r); os.close(w)
    """,
    "http server push gateway": """
        import http.server, urllib.request
        received = []
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, body))
                self.send_response(200)
                self.end_headers()
            def log_message(self, *args):
                pass
        srv = http.server.HTTPServer(("localhost", 0), Handler)
        t = threading.Thread(target=srv.serve_forever); t.start()
        url = "http://localhost:%d/metrics/job/test" % srv.server_address[1]
        for i in range(3):
            req = urllib.request.Request(url, data=b"metric %d" % i, method="PUT")
            with urllib.request.urlopen(req) as resp:
                assert resp.status == 200
            print(len(received), received[-1])
        srv.shutdown(); srv.server_close(); t.join()
    """,
    "socketserver threading server": """
        import socketserver
        log = []
        class Echo(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline()
                log.append(line)
                self.wfile.write(line.upper())
        srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
        t = threading.Thread(target=srv.serve_forever); t.start()
        for i in range(3):
            with socket.create_connection(srv.server_address) as s:
                f = s.makefile("rwb")
                f.write(b"hi %d\\n" % i); f.flush()
                print(f.readline(), log[-1])
                f.close()
        srv.shutdown(); srv.server_close(); t.join()
    """,
    "blocked in socket io is not a deadlock": """
        import subprocess, time
        ls = listener()
        child = subprocess.Popen([sys.executable, "-c",
            "import socket, sys, time; time.sleep(0.6); "
            "s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); s.sendall(b'x'); s.recv(1)",
            str(ls.getsockname()[1])])
        def server():
            c, _ = ls.accept()
            data.x = c.recv(1)
            c.sendall(b"y")
            c.close()
        t = threading.Thread(target=server); t.start()
        t.join()
        print(data.x)
        child.wait(); ls.close()
    """,
    "flock exclusive": """
        import fcntl, tempfile
        path = tempfile.mkstemp()[1]
        data.n = 0
        def w():
            for _ in range(5):
                fd = os.open(path, os.O_RDWR)
                fcntl.flock(fd, fcntl.LOCK_EX)
                data.n += 1
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(data.n)
    """,
    "flock released by closing the file object": """
        import fcntl, tempfile
        path = tempfile.mkstemp()[1]
        data.n = 0
        def w():
            for _ in range(5):
                with open(path, "a") as f:
                    fcntl.flock(f, fcntl.LOCK_EX)
                    data.n += 1
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(data.n)
    """,
    "flock released by os.close": """
        import fcntl, tempfile
        path = tempfile.mkstemp()[1]
        data.n = 0
        def w():
            for _ in range(5):
                fd = os.open(path, os.O_RDONLY)
                fcntl.flock(fd, fcntl.LOCK_EX)
                data.n += 1
                os.close(fd)
        ts = [threading.Thread(target=w) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(data.n)
    """,
    "flock shared readers and a writer": """
        import fcntl, tempfile
        path = tempfile.mkstemp()[1]
        data.x = 0
        def reader():
            with open(path) as f:
                fcntl.flock(f, fcntl.LOCK_SH)
                print(data.x)
                fcntl.flock(f, fcntl.LOCK_UN)
        def writer():
            with open(path) as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                data.x += 1
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        ts = [threading.Thread(target=fn) for fn in (reader, writer, reader, writer)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "sqlite begin immediate (diskcache transact)": """
        import sqlite3, tempfile
        path = os.path.join(tempfile.mkdtemp(), "cache.db")
        class Cache:
            def __init__(self):
                self._txn_id = None
                self._local = threading.local()
                con = sqlite3.connect(path, isolation_level=None)
                con.execute("CREATE TABLE IF NOT EXISTS kv (k INTEGER)")
                con.close()
            def _con(self):
                con = getattr(self._local, "con", None)
                if con is None:
                    con = self._local.con = sqlite3.connect(path, timeout=60, isolation_level=None)
                return con
            def transact(self):
                con = self._con()
                con.execute("BEGIN IMMEDIATE")
                try:
                    self._txn_id = threading.get_ident()
                    con.execute("INSERT INTO kv VALUES (?)", (self._txn_id,))
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                else:
                    con.execute("COMMIT")
        cache = Cache()
        ts = [threading.Thread(target=lambda: [cache.transact() for _ in range(10)]) for _ in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        con = sqlite3.connect(path)
        assert isinstance(con, sqlite3.Connection) and type(con).__name__ == "Connection"
        print(con.execute("SELECT count(*) FROM kv").fetchone(), repr(con).split(" at ")[0])
    """,
    "sqlite implicit transaction and with conn": """
        import sqlite3, tempfile
        path = os.path.join(tempfile.mkdtemp(), "db.sqlite")
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE t (n INTEGER)")
        data.n = 0
        def w(use_with):
            con = sqlite3.connect(path, timeout=60)
            for _ in range(10):
                if use_with:
                    with con:
                        con.execute("INSERT INTO t VALUES (1)")
                        data.n += 1
                else:
                    cur = con.cursor()
                    cur.execute("UPDATE t SET n = n + 1")
                    data.n += 1
                    con.commit()
            con.close()
        ts = [threading.Thread(target=w, args=(i % 2 == 0,)) for i in range(4)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(data.n)
    """,
    "sqlite read after commit": """
        import sqlite3, tempfile
        path = os.path.join(tempfile.mkdtemp(), "db.sqlite")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("CREATE TABLE jobs (id INTEGER)")
        def worker():
            c = sqlite3.connect(path, isolation_level=None)
            data.result = 42
            c.execute("INSERT INTO jobs VALUES (1)")
            c.close()
        t = threading.Thread(target=worker); t.start()
        while not con.execute("SELECT count(*) FROM jobs").fetchone()[0]:
            pass
        print(data.result)
        t.join()
    """,
    "socket end of stream": """
        a, b = socket.socketpair()
        def w():
            a.sendall(b"last")
            data.x = 1
            a.close()
        t = threading.Thread(target=w); t.start()
        while b.recv(16):
            pass
        print(data.x)
        t.join()
    """,
    "pipe end of stream": """
        r, w = os.pipe()
        def writer():
            data.x = 1
            os.close(w)
        t = threading.Thread(target=writer); t.start()
        print(os.read(r, 1), data.x)
        t.join(); os.close(r)
    """,
    "http server reply read to the end of stream": """
        import http.server, urllib.request
        received = []
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"body")
                received.append(self.path)
            def log_message(self, *args):
                pass
        srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        t = threading.Thread(target=srv.serve_forever); t.start()
        with urllib.request.urlopen("http://127.0.0.1:%d/x" % srv.server_address[1]) as resp:
            print(resp.read())
        print(len(received), received[-1])
        srv.shutdown(); srv.server_close(); t.join()
    """,
    "asyncio streams between two event loops": """
        import asyncio
        ready = threading.Event()
        box = {}
        async def handle(reader, writer):
            await reader.readline()
            data.reply = "computed"
            writer.write(b"done\\n")
            await writer.drain()
            writer.close()
        def server():
            async def main():
                srv = await asyncio.start_server(handle, "127.0.0.1", 0)
                box["port"] = srv.sockets[0].getsockname()[1]
                box["stop"] = asyncio.get_running_loop().create_future()
                ready.set()
                await box["stop"]
                srv.close()
            asyncio.run(main())
        t = threading.Thread(target=server); t.start()
        ready.wait()
        async def client():
            reader, writer = await asyncio.open_connection("127.0.0.1", box["port"])
            writer.write(b"go\\n")
            await reader.readline()
            print(data.reply)
            writer.close()
        asyncio.run(client())
        loop = box["stop"].get_loop()
        loop.call_soon_threadsafe(box["stop"].set_result, None)
        t.join()
    """,
    "sqlite deferred transaction reads a commit made after its BEGIN": """
        import sqlite3, tempfile
        path = os.path.join(tempfile.mkdtemp(), "db.sqlite")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("CREATE TABLE jobs (id INTEGER)")
        committed = gate()
        con.execute("BEGIN")
        def worker():
            c = sqlite3.connect(path, isolation_level=None)
            data.result = 42
            c.execute("INSERT INTO jobs VALUES (1)")
            c.close()
            committed.release()
        t = threading.Thread(target=worker); t.start()
        committed.acquire()
        assert con.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1
        print(data.result)
        con.execute("COMMIT")
        t.join()
    """,
    "tcp dup of an accepted end": """
        ls = listener()
        def server():
            c, _ = ls.accept()
            d = c.dup()
            data.reply = 1
            d.sendall(b"x")
            d.close(); c.close()
        t = threading.Thread(target=server); t.start()
        s = socket.create_connection(ls.getsockname())
        s.recv(1)
        print(data.reply)
        t.join(); s.close(); ls.close()
    """,
}

RACES = {
    "socketpair write after send": """
        a, b = socket.socketpair()
        data.x = 0
        def w():
            a.sendall(b"ready")
            data.x = 1  # R
        t = threading.Thread(target=w); t.start()
        got = b""
        while len(got) < 5:
            got += b.recv(5 - len(got))
        print(data.x)  # R
        t.join()
    """,
    "socketpair read of the first write only": """
        a, b = socket.socketpair()
        data.x = 0
        g = gate()
        def w():
            a.sendall(b"1")
            data.x = 1  # R
            a.sendall(b"2")
            g.release()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        b.recv(1)
        print(data.x)  # R
        t.join()
    """,
    "tcp other connection": """
        ls = listener()
        data.x = 0
        def server():
            c1, _ = ls.accept()
            c2, _ = ls.accept()
            c2.sendall(b"b")
            data.x = 1  # R
            c1.sendall(b"a")
            c2.close(); c1.close()
        t = threading.Thread(target=server); t.start()
        s1 = socket.create_connection(ls.getsockname())
        s2 = socket.create_connection(ls.getsockname())
        s2.recv(1)
        print(data.x)  # R
        s1.recv(1)
        t.join(); s1.close(); s2.close(); ls.close()
    """,
    "pipe descriptor reused": """
        r, w = os.pipe()
        data.x = 0
        g = gate()
        def writer():
            data.x = 1  # R
            os.write(w, b"a")
            g.release()
        t = threading.Thread(target=writer); t.start()
        g.acquire()
        r2, w2 = os.pipe()
        os.dup2(r2, r)      # r now reads the new pipe: the old one's bytes are gone
        os.write(w2, b"b")
        os.read(r, 1)
        print(data.x)  # R
        t.join()
    """,
    "http server appends after the reply": """
        import http.server, urllib.request
        received = []
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                received.append(body)  # R
            def log_message(self, *args):
                pass
        srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        t = threading.Thread(target=srv.serve_forever); t.start()
        url = "http://127.0.0.1:%d/metrics/job/test" % srv.server_address[1]
        req = urllib.request.Request(url, data=b"metric", method="PUT")
        with urllib.request.urlopen(req) as resp:
            resp.read()
        print(len(received))  # R
        srv.shutdown(); srv.server_close(); t.join()
    """,
    "flock one writer without the lock": """
        import fcntl, tempfile
        path = tempfile.mkstemp()[1]
        data.x = 0
        def locked():
            with open(path) as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                data.x = 1  # R
                fcntl.flock(f, fcntl.LOCK_UN)
        def unlocked():
            data.x = 2  # R
        ts = [threading.Thread(target=locked), threading.Thread(target=unlocked)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "flock shared holders both write": """
        import fcntl, tempfile
        path = tempfile.mkstemp()[1]
        data.x = 0
        def w():
            with open(path) as f:
                fcntl.flock(f, fcntl.LOCK_SH)
                data.x = 1  # R
                fcntl.flock(f, fcntl.LOCK_UN)
        ts = [threading.Thread(target=w) for _ in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "lockf does not exclude threads of one process": """
        import fcntl, tempfile
        path = tempfile.mkstemp()[1]
        data.x = 0
        def w():
            with open(path, "w") as f:
                fcntl.lockf(f, fcntl.LOCK_EX)
                data.x = 1  # R
                fcntl.lockf(f, fcntl.LOCK_UN)
        ts = [threading.Thread(target=w) for _ in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "sqlite attribute written outside any transaction": """
        import sqlite3, tempfile
        path = os.path.join(tempfile.mkdtemp(), "cache.db")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("CREATE TABLE kv (k INTEGER)")
        data.txn_id = None
        def transact():
            c = sqlite3.connect(path, timeout=60, isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            data.txn_id = 1  # R
            c.execute("INSERT INTO kv VALUES (1)")
            c.execute("COMMIT")
        def outside():
            data.txn_id = 2  # R
        ts = [threading.Thread(target=transact), threading.Thread(target=outside)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "sqlite private memory databases": """
        import sqlite3
        data.x = 0
        def w():
            c = sqlite3.connect(":memory:", isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            data.x = 1  # R
            c.execute("COMMIT")
        ts = [threading.Thread(target=w) for _ in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
    """,
    "sqlite failed begin immediate": """
        import sqlite3, tempfile
        path = os.path.join(tempfile.mkdtemp(), "db.sqlite")
        sqlite3.connect(path).close()
        data.x = 0
        held, tried = gate(), gate()
        def holder():
            c = sqlite3.connect(path, isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            data.x = 1  # R
            held.release()
            tried.acquire()
            c.execute("COMMIT")
        t = threading.Thread(target=holder); t.start()
        held.acquire()
        c = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            c.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            print(e)
        print(data.x)  # R
        tried.release()
        t.join()
    """,
    "socket written after shutdown": """
        a, b = socket.socketpair()
        data.x = 0
        def w():
            a.shutdown(socket.SHUT_WR)
            data.x = 1  # R
        t = threading.Thread(target=w); t.start()
        b.recv(1)
        print(data.x)  # R
        t.join()
    """,
}


def _program(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    res = run_racedet(tmp_path, _program(NO_RACES[name]), extra_env={"RACEDET_CORE": core})
    assert res.races == [], res.stderr
    assert res.returncode == 0, res.stderr + res.stdout


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    expect_race(tmp_path, _program(RACES[name]), core)


FIDELITY = """
import socket, sqlite3, threading
t = threading.Thread(target=lambda: None); t.start(); t.join()
con = sqlite3.connect(DB)
print(type(con), type(con.cursor()), isinstance(con, sqlite3.Connection), con.isolation_level)
a, b = socket.socketpair()
a.sendall(b"x"); print(b.recv(1))
try:
    con.execute("SELEKT 1")
except sqlite3.OperationalError as e:
    print(type(e).__name__, e)
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); port = ls.getsockname()[1]; ls.close()
try:
    socket.create_connection(("127.0.0.1", port))
except ConnectionRefusedError as e:
    print(type(e).__name__)
con.execute("CREATE TABLE t (a)")
with con:
    con.execute("INSERT INTO t VALUES (1)")
con.execute("INSERT INTO t VALUES (?)", (1, 2))
"""


def test_program_sees_the_same(tmp_path):
    """Types, output, exceptions and the traceback are those of plain python."""
    from helpers import run_plain, write

    src = FIDELITY.replace("DB", repr(str(tmp_path / "f.db")))
    plain = run_plain(write(tmp_path, src, "plain.py"))
    (tmp_path / "f.db").unlink()
    raced = run_racedet(tmp_path, src.replace("plain.py", "prog.py"))
    assert raced.stdout == plain.stdout
    assert raced.stderr.replace("prog.py", "plain.py") == plain.stderr
    assert "ProgrammingError" in plain.stderr and raced.returncode == plain.returncode == 1
