"""Bytes sent over a TLS connection order the sender before the receiver
(CPython's test_logging: HTTPHandlerTest, whose second round runs the
HTTP server behind ``ssl``).

    python -m racedet realworld/repro/tls_socket.py

At 6ba4021 a plain loopback TCP connection orders the two threads, but
the same exchange through ``ssl.SSLSocket`` (``sendall``/``recv`` go to
the TLS object, not to ``socket.send``/``recv``) does not: racedet
reports ``Server.log_data``, written by the main thread before
``sendall`` and read by the server thread after its ``recv`` returned
those bytes.  Expected clean.  Uses the key and certificate that CPython's
test package ships (test/certdata/keycert.pem).
"""

import os
import socket
import ssl
import threading
import test

CERT = os.path.join(os.path.dirname(test.__file__), "certdata", "keycert.pem")


class Server:
    pass


srv = Server()
server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_ctx.load_cert_chain(CERT)
client_ctx = ssl.create_default_context(cafile=CERT)
client_ctx.check_hostname = False
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
got = []


def serve():
    conn, _ = listener.accept()
    with server_ctx.wrap_socket(conn, server_side=True) as tls:
        data = tls.recv(100)
        got.append(srv.log_data + data.decode())


t = threading.Thread(target=serve)
t.start()
with client_ctx.wrap_socket(socket.create_connection(listener.getsockname())) as tls:
    srv.log_data = "seen: "          # written after the connection is up
    tls.sendall(b"hello")
    t.join()
listener.close()
assert got == ["seen: hello"], got
print("ok")
