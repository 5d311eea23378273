"""A tiny HTTP/1.1 forwarding proxy that can rewrite request bodies.

Used to make the *real* client send something the server must reject (e.g. a
corrupt full upload) while everything else about the exchange (headers,
session key, response handling, the error the user sees) stays genuine.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from . import raw

# rewrite(path, decoded_payload) -> new decoded payload, or None to leave the request alone
Rewriter = Callable[[str, bytes], Optional[bytes]]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}


class RewritingProxy:
    def __init__(self, upstream_port: int, rewrite: Rewriter | None = None) -> None:
        self.upstream_port = upstream_port
        self.rewrite = rewrite or (lambda path, payload: None)
        self.rewritten: list[str] = []
        # every request as received from the client: (path, headers, body on the wire)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            # trailers until blank line
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _forward(self) -> None:
                body = self._read_body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                proxy.requests.append((self.path, dict(headers), body))
                if "anki-sync" in {k.lower() for k in headers} and body:
                    try:
                        decoded = raw.zstd_decompress(body)
                    except Exception:
                        decoded = None
                    if decoded is not None:
                        new = proxy.rewrite(self.path, decoded)
                        if new is not None:
                            body = raw.zstd_compress(new)
                            proxy.rewritten.append(self.path)
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in _HOP_BY_HOP:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_POST = _forward
            do_GET = _forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> "RewritingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
