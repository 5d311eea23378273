"""The raw HTTP helper itself: a server may answer before it has read the
whole body (413, 400) and close. The helper must report that answer, as a real
client does, rather than the broken pipe of the unfinished send."""
from __future__ import annotations

import socket
import threading
import time

from harness import raw


def _answer_early(srv: socket.socket, count: int) -> None:
    for _ in range(count):
        conn, _ = srv.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!")
            conn.shutdown(socket.SHUT_WR)
            time.sleep(0.1)  # close with the body unread: the client's send fails


def test_early_answer_is_read_when_the_send_breaks() -> None:
    rounds = 5
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(rounds)
        port = srv.getsockname()[1]
        server = threading.Thread(target=_answer_early, args=(srv, rounds), daemon=True)
        server.start()
        for _ in range(rounds):
            r = raw.request(f"http://127.0.0.1:{port}", "/sync/upload", body=b"j" * (8 << 20))
            assert (r.status, r.body) == (413, b"too big!")
        server.join(timeout=10)
