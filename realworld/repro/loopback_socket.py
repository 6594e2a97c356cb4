"""Bytes sent on a loopback socket order the sender before the receiver
(CPython's test_logging: DatagramHandlerTest, SysLogHandlerTest,
SocketHandlerTest, HTTPHandlerTest, SMTPHandlerTest; prometheus_client's
exposition tests; issue 10 section 3).

    python -m racedet realworld/repro/loopback_socket.py

The main thread writes ``srv.log_output`` and then sends a datagram; the
server thread reads ``log_output`` after recv() returned that datagram.
A send happens before the recv that returns its bytes: expected clean.
"""

import socket
import threading


class Server:
    pass


srv = Server()
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
got = []


def serve():
    data = b.recv(100)
    got.append(srv.log_output + data.decode())


t = threading.Thread(target=serve)
t.start()
srv.log_output = "seen: "        # written after the server started
a.send(b"hello")
t.join()
assert got == ["seen: hello"], got
print("ok")
