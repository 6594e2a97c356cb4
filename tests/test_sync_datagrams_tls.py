"""Synchronization through datagram sockets (UDP, Unix datagrams) and TLS over loopback TCP.

A datagram orders its sender before the receive that returns it; bytes
written through ``ssl.SSLSocket`` order the writer before the read, on the
other end, that returns them.  No-race programs get zero reports; each racy
twin is reported at the pair of lines marked ``# R``.  Real time order, where
a program needs one, comes from raw ``_thread`` locks (``gate()``), which
create no edge.
"""

from __future__ import annotations

import os
import socket
import sys
import textwrap

import pytest

from helpers import CORES, expect_race, run_racedet


def _keycert() -> str:
    """The key and self-signed certificate CPython's test package ships (test/certdata/ from 3.12)."""
    base = os.path.join(os.path.dirname(os.__file__), "test")
    for path in (os.path.join(base, "certdata", "keycert.pem"), os.path.join(base, "keycert.pem")):
        if os.path.exists(path):
            return path
    return ""


CERT = _keycert()


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


PRELUDE = """
import _thread, os, socket, sys, tempfile, threading

class Data:
    pass

data = Data()
data.x = 0

def gate():
    g = threading._allocate_lock()
    g.acquire()
    return g

def udp(where=("127.0.0.1", 0), family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if where is not None:
        s.bind(where)
    return s

def unix_path():
    return os.path.join(tempfile.mkdtemp(), "sock")
"""

TLS_PRELUDE = """
import ssl
CERT = %r
server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_ctx.load_cert_chain(CERT)
client_ctx = ssl.create_default_context(cafile=CERT)
client_ctx.check_hostname = False

def tls_pair():
    '''A TLS connection over loopback TCP: (server end, client end), handshakes done.'''
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen()
    box = []
    def accept():
        c, _ = ls.accept()
        box.append(server_ctx.wrap_socket(c, server_side=True))
    t = threading.Thread(target=accept); t.start()
    client = client_ctx.wrap_socket(socket.create_connection(ls.getsockname()))
    t.join(); ls.close()
    return box[0], client
""" % CERT

NO_RACES = {
    "udp sendto recvfrom": """
        rx = udp(); tx = udp(None)
        def server():
            got, _ = rx.recvfrom(100)
            print(data.log + got.decode())
        t = threading.Thread(target=server); t.start()
        data.log = "seen: "
        tx.sendto(b"hello", rx.getsockname())
        t.join(); rx.close(); tx.close()
    """,
    "udp connected send recv": """
        rx = udp(); tx = udp(None)
        tx.connect(rx.getsockname())
        def server():
            print(rx.recv(100), data.x)
        t = threading.Thread(target=server); t.start()
        data.x = 1
        tx.send(b"one")
        t.join(); rx.close(); tx.close()
    """,
    "udp request and reply to an autobound client": """
        srv = udp()
        def server():
            for i in range(5):
                req, addr = srv.recvfrom(100)
                print(req, data.req)
                data.reply = i
                srv.sendto(b"re: " + req, addr)   # may come before the client's sendto returns
        t = threading.Thread(target=server); t.start()
        for i in range(5):
            cli = udp(None)
            data.req = i
            cli.sendto(b"ping %d" % i, srv.getsockname())
            print(cli.recvfrom(100)[0], data.reply)
            cli.close()
        t.join(); srv.close()
    """,
    "udp receiver bound where racedet did not see it": """
        import _socket
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _socket.socket.bind(rx, ("127.0.0.1", 0))   # as if bound before racedet started
        tx = udp(None)
        g = gate()
        def sender():
            data.x = 1
            tx.sendto(b"early", rx.getsockname())     # no mailbox there yet: kept aside
            g.release()
        t = threading.Thread(target=sender); t.start()
        g.acquire()
        print(rx.recvfrom(100)[0], data.x)
        t.join(); rx.close(); tx.close()
    """,
    "udp wildcard receiver, recvfrom_into and recv_into": """
        rx = udp(("0.0.0.0", 0)); port = rx.getsockname()[1]
        tx = udp(None)
        def sender():
            data.x = 1
            tx.sendto(b"first", ("127.0.0.1", port))
            data.y = 2
            tx.sendto(b"second", ("localhost", port))
        t = threading.Thread(target=sender); t.start()
        buf = bytearray(64)
        n, _ = rx.recvfrom_into(buf)
        print(bytes(buf[:n]), data.x)
        n = rx.recv_into(buf, 64)
        print(bytes(buf[:n]), data.y)
        t.join(); rx.close(); tx.close()
    """,
    "udp datagram cut to the receive buffer": """
        rx = udp(); tx = udp(None)
        def sender():
            data.x = 1
            tx.sendto(b"a long datagram cut short", rx.getsockname())
        t = threading.Thread(target=sender); t.start()
        print(rx.recv(4), data.x)
        t.join(); rx.close(); tx.close()
    """,
    "udp many senders to one server": """
        rx = udp()
        def sender(i):
            setattr(data, "f%d" % i, i)
            s = udp(None)
            s.sendto(b"%d" % i, rx.getsockname())
            s.close()
        ts = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
        for t in ts: t.start()
        for _ in range(4):
            got, _ = rx.recvfrom(10)
            print(getattr(data, "f" + got.decode()))
        for t in ts: t.join()
        rx.close()
    """,
    "udp the same bytes twice from one thread": """
        rx = udp(); tx = udp(None)
        def sender():
            data.x = 1
            tx.sendto(b"tick", rx.getsockname())
            data.y = 2
            tx.sendto(b"tick", rx.getsockname())
        t = threading.Thread(target=sender); t.start()
        rx.recvfrom(10)
        print(data.x)
        rx.recvfrom(10)
        print(data.y)
        t.join(); rx.close(); tx.close()
    """,
    "udp sendmsg recvmsg": """
        rx = udp(); tx = udp(None)
        def sender():
            data.x = 1
            tx.sendmsg([b"par", b"ts"], [], 0, rx.getsockname())
        t = threading.Thread(target=sender); t.start()
        msg, anc, flags, addr = rx.recvmsg(100)
        print(msg, data.x)
        t.join(); rx.close(); tx.close()
    """,
    "logging DatagramHandler to a UDP server thread": """
        import logging, logging.handlers, pickle, struct
        rx = udp()
        records = []
        def server():
            got, _ = rx.recvfrom(65536)
            records.append(pickle.loads(got[4:])["msg"])
            print(data.expected, records)
        t = threading.Thread(target=server); t.start()
        h = logging.handlers.DatagramHandler(*rx.getsockname())
        log = logging.getLogger("udp-test"); log.propagate = False; log.addHandler(h)
        data.expected = "hello"
        log.warning("hello")
        t.join(); h.close(); rx.close()
    """,
    "logging SysLogHandler over UDP": """
        import logging, logging.handlers
        rx = udp()
        def server():
            print(rx.recv(1024), data.expected)
        t = threading.Thread(target=server); t.start()
        h = logging.handlers.SysLogHandler(address=rx.getsockname())
        log = logging.getLogger("syslog-test"); log.propagate = False; log.addHandler(h)
        data.expected = "sp\\xe4m"
        log.error("sp\\xe4m")
        t.join(); h.close(); rx.close()
    """,
    "unix datagram socket bound to a path": """
        path = unix_path()
        rx = udp(path, socket.AF_UNIX)
        tx = udp(None, socket.AF_UNIX)
        def sender():
            data.x = 1
            tx.sendto(b"one", path)
            data.y = 2
            tx.sendmsg([b"two"], [], 0, path)
        t = threading.Thread(target=sender); t.start()
        print(rx.recvfrom(10)[0], data.x)
        print(rx.recvmsg(10)[0], data.y)
        t.join(); rx.close(); tx.close()
    """,
    "unix datagram socketpair recvfrom and recvmsg": """
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        def w():
            data.x = 1
            a.sendmsg([b"first"])
            data.y = 2
            a.send(b"second")
        t = threading.Thread(target=w); t.start()
        print(b.recvmsg(100)[0], data.x)
        print(b.recvfrom(100)[0], data.y)
        t.join()
    """,
}

IPV6_NO_RACES = {
    "udp over ipv6 loopback": """
        rx = udp(("::1", 0), socket.AF_INET6); tx = udp(None, socket.AF_INET6)
        def server():
            got, _ = rx.recvfrom(100)
            print(got, data.x)
        t = threading.Thread(target=server); t.start()
        data.x = 1
        tx.sendto(b"six", rx.getsockname()[:2])
        t.join(); rx.close(); tx.close()
    """,
}

TLS_NO_RACES = {
    "tls sendall recv": """
        srv, cli = tls_pair()
        def server():
            got = b""
            while len(got) < 5:
                got += srv.recv(5 - len(got))
            print(data.log + got.decode())
            srv.close()
        t = threading.Thread(target=server); t.start()
        data.log = "seen: "
        cli.sendall(b"hello")
        t.join(); cli.close()
    """,
    "tls write read ping pong": """
        srv, cli = tls_pair()
        def server():
            for i in range(5):
                srv.read(1)
                data.n = getattr(data, "n", 0) + 1
                srv.write(b"p")
            srv.close()
        t = threading.Thread(target=server); t.start()
        for i in range(5):
            data.n = getattr(data, "n", 0) + 1
            cli.write(b"q")
            cli.read(1)
        t.join(); cli.close()
        print(data.n)
    """,
    "tls makefile and recv_into": """
        srv, cli = tls_pair()
        def server():
            f = srv.makefile("rwb")
            line = f.readline()
            data.reply = line.upper()
            f.write(data.reply); f.flush()
            f.close(); srv.close()
        t = threading.Thread(target=server); t.start()
        cli.sendall(b"ask\\n")
        buf = bytearray(4); n = 0
        while n < 4:
            n += cli.recv_into(memoryview(buf)[n:])
        print(bytes(buf), data.reply)
        t.join(); cli.close()
    """,
    "tls end of stream": """
        srv, cli = tls_pair()
        def server():
            srv.sendall(b"last")
            data.x = 1
            srv.close()
        t = threading.Thread(target=server); t.start()
        while cli.recv(16):
            pass
        print(data.x)
        t.join(); cli.close()
    """,
    "https server (logging HTTPHandler)": """
        import http.server, logging, logging.handlers
        received = []
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        srv.socket = server_ctx.wrap_socket(srv.socket, server_side=True)
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}); t.start()
        h = logging.handlers.HTTPHandler("127.0.0.1:%d" % srv.server_address[1], "/log", method="POST",
                                         secure=True, context=client_ctx)
        log = logging.getLogger("https-test"); log.propagate = False; log.addHandler(h)
        log.error("over tls")
        print(len(received), b"over+tls" in received[-1])
        srv.shutdown(); srv.server_close(); t.join(); h.close()
    """,
}

RACES = {
    "udp written after sendto": """
        rx = udp(); tx = udp(None)
        def sender():
            tx.sendto(b"go", rx.getsockname())
            data.x = 1  # R
        t = threading.Thread(target=sender); t.start()
        rx.recvfrom(10)
        print(data.x)  # R
        t.join(); rx.close(); tx.close()
    """,
    "udp receive of the first datagram only": """
        rx = udp(); tx = udp(None)
        g = gate()
        def sender():
            tx.sendto(b"1", rx.getsockname())
            data.x = 1  # R
            tx.sendto(b"2", rx.getsockname())
            g.release()
        t = threading.Thread(target=sender); t.start()
        g.acquire()
        rx.recvfrom(10)
        print(data.x)  # R
        t.join(); rx.close(); tx.close()
    """,
    "udp the first of two equal datagrams": """
        rx = udp(); tx = udp(None)
        g = gate()
        def sender():
            tx.sendto(b"tick", rx.getsockname())
            data.x = 1  # R
            tx.sendto(b"tick", rx.getsockname())
            g.release()
        t = threading.Thread(target=sender); t.start()
        g.acquire()
        rx.recv(10)
        print(data.x)  # R
        t.join(); rx.close(); tx.close()
    """,
    "udp datagram from another sender": """
        rx = udp(); a = udp(None); b = udp(None)
        g = gate()
        def writer():
            data.x = 1  # R
            a.sendto(b"from a", ("127.0.0.1", 9))   # not to rx
            g.release()
        t = threading.Thread(target=writer); t.start()
        g.acquire()
        b.sendto(b"from b", rx.getsockname())
        rx.recvfrom(10)
        print(data.x)  # R
        t.join(); rx.close(); a.close(); b.close()
    """,
    "udp same bytes from two senders, the other one received": """
        rx = udp(); a = udp(None); b = udp(None)
        sent, written = gate(), gate()
        def writer():
            sent.acquire()
            data.x = 1  # R
            a.sendto(b"same", rx.getsockname())
            written.release()
        t = threading.Thread(target=writer); t.start()
        b.sendto(b"same", rx.getsockname())
        sent.release()
        written.acquire()
        msg, addr = rx.recvfrom(10)
        assert addr[1] == b.getsockname()[1]
        print(data.x)  # R
        t.join(); rx.close(); a.close(); b.close()
    """,
    "udp same bytes from two senders, received without the source": """
        rx = udp(); a = udp(None); b = udp(None)
        sent, written = gate(), gate()
        def writer():
            sent.acquire()
            data.x = 1  # R
            a.sendto(b"same", rx.getsockname())
            written.release()
        t = threading.Thread(target=writer); t.start()
        b.sendto(b"same", rx.getsockname())
        sent.release()
        written.acquire()
        rx.recv(10)
        print(data.x)  # R
        t.join(); rx.close(); a.close(); b.close()
    """,
    "unix datagram socketpair: the first datagram only": """
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        g = gate()
        def w():
            a.send(b"1")
            data.x = 1  # R
            a.send(b"2")
            g.release()
        t = threading.Thread(target=w); t.start()
        g.acquire()
        b.recvmsg(10)
        print(data.x)  # R
        t.join()
    """,
    "unix datagram written after sendto": """
        path = unix_path()
        rx = udp(path, socket.AF_UNIX); tx = udp(None, socket.AF_UNIX)
        def w():
            tx.sendto(b"x", path)
            data.x = 1  # R
        t = threading.Thread(target=w); t.start()
        rx.recvfrom(10)
        print(data.x)  # R
        t.join(); rx.close(); tx.close()
    """,
}

TLS_RACES = {
    "tls written after sendall": """
        srv, cli = tls_pair()
        def server():
            srv.recv(5)
            print(data.x)  # R
            srv.close()
        t = threading.Thread(target=server); t.start()
        cli.sendall(b"hello")
        data.x = 1  # R
        t.join(); cli.close()
    """,
    "tls read of the first write only": """
        srv, cli = tls_pair()
        g = gate()
        def client():
            cli.write(b"1")
            data.x = 1  # R
            cli.write(b"2")
            g.release()
        t = threading.Thread(target=client); t.start()
        g.acquire()
        srv.read(1)
        print(data.x)  # R
        t.join(); srv.close(); cli.close()
    """,
}


def _program(body: str, prelude: str = "") -> str:
    return PRELUDE + prelude + textwrap.dedent(body)


def _run_clean(tmp_path, src: str, core: str) -> None:
    res = run_racedet(tmp_path, src, extra_env={"RACEDET_CORE": core})
    assert res.races == [], res.stderr
    assert res.returncode == 0, res.stderr + res.stdout


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(NO_RACES))
def test_no_race(tmp_path, name, core):
    _run_clean(tmp_path, _program(NO_RACES[name]), core)


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(IPV6_NO_RACES))
def test_no_race_ipv6(tmp_path, name, core):
    _run_clean(tmp_path, _program(IPV6_NO_RACES[name]), core)


@pytest.mark.skipif(not CERT, reason="CPython's test package (keycert.pem) is not installed")
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(TLS_NO_RACES))
def test_no_race_tls(tmp_path, name, core):
    _run_clean(tmp_path, _program(TLS_NO_RACES[name], TLS_PRELUDE), core)


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(RACES))
def test_race(tmp_path, name, core):
    expect_race(tmp_path, _program(RACES[name]), core)


@pytest.mark.skipif(not CERT, reason="CPython's test package (keycert.pem) is not installed")
@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(TLS_RACES))
def test_race_tls(tmp_path, name, core):
    expect_race(tmp_path, _program(TLS_RACES[name], TLS_PRELUDE), core)


FIDELITY = """
import socket, ssl, sys
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("127.0.0.1", 0)); rx.settimeout(0.01)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(tx.sendto(b"x", rx.getsockname()), rx.recvfrom(10)[0], ssl.SSLSocket.read.__qualname__)
try:
    rx.recvfrom(10)
except socket.timeout as e:
    print(type(e).__name__, e)
rx.recv(10)
"""


def test_program_sees_the_same(tmp_path):
    """Output, exceptions and the traceback of a failed receive are those of plain python."""
    from helpers import run_plain, write

    plain = run_plain(write(tmp_path, FIDELITY, "plain.py"))
    raced = run_racedet(tmp_path, FIDELITY)
    assert raced.stdout == plain.stdout
    assert raced.stderr.replace("prog.py", "plain.py") == plain.stderr
    assert "TimeoutError" in plain.stderr and raced.returncode == plain.returncode == 1
