"""A datagram sent with sendto() orders the sender before the recvfrom()
that returns it (CPython's test_logging: DatagramHandlerTest,
SysLogHandlerTest, IPv6SysLogHandlerTest, whose handlers call
``sock.sendto`` and whose UDP server calls ``sock.recvfrom``).

    python -m racedet realworld/repro/udp_sendto_recvfrom.py

At 6ba4021 an AF_UNIX datagram socket pair (loopback_socket.py) and a
loopback TCP connection order the two threads, but an AF_INET UDP socket
does not (neither ``sendto``/``recvfrom`` nor ``connect`` + ``send``/
``recv``): racedet reports ``Server.log_output``, written by the main
thread before the sendto and read by the server thread after the
recvfrom.  Expected clean.
"""

import socket
import threading


class Server:
    pass


srv = Server()
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", 0))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
got = []


def serve():
    data, _ = rx.recvfrom(100)
    got.append(srv.log_output + data.decode())


t = threading.Thread(target=serve)
t.start()
srv.log_output = "seen: "        # written after the server started
tx.sendto(b"hello", rx.getsockname())
t.join()
rx.close()
tx.close()
assert got == ["seen: hello"], got
print("ok")
