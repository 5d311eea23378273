"""Raw HTTP access to a sync server, speaking the v11 envelope by hand.

v11 request: POST <endpoint>sync/<method>, header `anki-sync` = compact JSON
{"v":11,"k":hostkey,"c":client version,"s":session key}, body = zstd(payload).
v11 200 response: header `anki-original-size` = length of the decoded payload,
body = zstd(payload). Error responses are plain and not compressed.
"""

from __future__ import annotations

import http.client
import io
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import zstandard

CLIENT_VERSION = "26.9.3,interop,linux"
EMPTY_INPUT = {"_pad": None}  # what the rslib client sends for argument-less calls
DEFAULT_TIMEOUT = 60.0

_OMIT = object()


def zstd_compress(data: bytes, *, content_size: bool = True) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=content_size).compress(data)


def zstd_stream_compress(data: bytes, block: int = 65536) -> bytes:
    """Like the real client: one streamed frame, no content size, fed block by block."""
    c = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    out = b"".join(c.compress(data[i : i + block]) for i in range(0, len(data), block))
    return out + c.flush()


def zstd_decompress(data: bytes) -> bytes:
    """Decode a zstd stream of any number of frames, with or without a content size."""
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    return reader.read()


def to_bytes(payload: Any) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sync_header(
    key: str = "",
    session: str = "interop1",
    version: Any = 11,
    client: str = CLIENT_VERSION,
) -> str:
    return json.dumps({"v": version, "k": key, "c": client, "s": session}, separators=(",", ":"))


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes  # as received on the wire
    method: str = ""
    path: str = ""
    _payload: bytes | None = field(default=None, repr=False)

    @property
    def original_size(self) -> int | None:
        v = self.headers.get("anki-original-size")
        return None if v is None else int(v)

    @property
    def payload(self) -> bytes:
        """Decoded v11 payload (zstd-decoded when the response is a v11 success)."""
        if self._payload is None:
            if self.status == 200 and "anki-original-size" in self.headers:
                self._payload = zstd_decompress(self.body)
            else:
                self._payload = self.body
        return self._payload

    def json(self) -> Any:
        return json.loads(self.payload)

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")

    def describe(self) -> str:
        body = self.payload[:200]
        return f"{self.method} {self.path} -> {self.status} {dict(self.headers)} {body!r}"


def request(
    endpoint: str,
    path: str,
    *,
    http_method: str = "POST",
    headers: Mapping[str, str] | None = None,
    body: bytes | Iterable[bytes] | None = None,
    chunked: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> RawResponse:
    """Send one HTTP request with exactly the given headers/body."""
    u = urllib.parse.urlsplit(endpoint)
    full_path = (u.path.rstrip("/") + "/" + path.lstrip("/")) if path else (u.path or "/")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        try:
            if chunked and body is not None:
                hdrs["Transfer-Encoding"] = "chunked"
                data: Any = [body] if isinstance(body, (bytes, bytearray)) else body
                conn.request(http_method, full_path, body=data, headers=hdrs, encode_chunked=True)
            else:
                conn.request(http_method, full_path, body=body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError) as send_error:
            # A server may answer (413, 400) before reading the whole body and
            # close; a real client reads that answer. If none arrived, the
            # send error is the result.
            try:
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException):
                raise send_error from None
        else:
            resp = conn.getresponse()
        raw = resp.read()
        resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        return RawResponse(resp.status, resp_headers, raw, http_method, full_path)
    finally:
        conn.close()


def v11(
    endpoint: str,
    method: str,
    payload: Any = EMPTY_INPUT,
    *,
    key: str = "",
    session: str = "interop1",
    version: Any = 11,
    header: Any = _OMIT,
    body: bytes | None = None,
    extra_headers: Mapping[str, str] | None = None,
    chunked: bool = False,
    prefix: str = "sync",
    http_method: str = "POST",
    timeout: float = DEFAULT_TIMEOUT,
) -> RawResponse:
    """A v11 call to <endpoint><prefix>/<method>.

    header: override the `anki-sync` header value (a str is sent verbatim);
            pass None to send no `anki-sync` header at all.
    body:   raw bytes to send instead of zstd(payload).
    """
    hdrs: dict[str, str] = {"Content-Type": "application/octet-stream"}
    if header is _OMIT:
        hdrs["anki-sync"] = sync_header(key, session, version)
    elif header is not None:
        hdrs["anki-sync"] = header if isinstance(header, str) else json.dumps(header)
    if extra_headers:
        hdrs.update(extra_headers)
    if body is None:
        body = zstd_compress(to_bytes(payload))
    return request(
        endpoint,
        f"{prefix}/{method}",
        http_method=http_method,
        headers=hdrs,
        body=body,
        chunked=chunked,
        timeout=timeout,
    )


# -- convenience wrappers ---------------------------------------------------


def host_key(endpoint: str, user: str, password: str) -> RawResponse:
    return v11(endpoint, "hostKey", {"u": user, "p": password}, key="")


def meta(endpoint: str, key: str, *, version: int = 11) -> RawResponse:
    return v11(endpoint, "meta", {"v": version, "cv": "anki,26.9.3 (interop),linux"}, key=key)


def download(endpoint: str, key: str) -> RawResponse:
    return v11(endpoint, "download", EMPTY_INPUT, key=key)


def upload(endpoint: str, key: str, collection_bytes: bytes, **kw: Any) -> RawResponse:
    return v11(endpoint, "upload", collection_bytes, key=key, **kw)


def login_key(endpoint: str, user: str, password: str) -> str:
    r = host_key(endpoint, user, password)
    assert r.status == 200, r.describe()
    return r.json()["key"]
