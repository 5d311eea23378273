"""The legacy (sync protocol 8-10) wire format, built by hand.

Request: POST <endpoint>sync/<method> (or msync/<method>) with no `anki-sync`
header and a multipart/form-data body. Parts, as the 2.1.56 Rust client sends
them: `data` (filename "data", application/octet-stream; gzip of the payload),
`c` = "1" (gzip flag; anything but "0" means gzip), `k` = host key, `s` =
session key. Old media clients send `sk` (the key msync/begin hands out, which
is the host key) instead of `k`, `v` = client version on msync/begin, and may
send `c` = "0" with a raw zip. A missing or empty `data` part means `{}`.

Response: 200 with the raw payload (no zstd, no anki-original-size); errors are
the status code alone, as for v11.
"""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from harness import raw
from harness.raw import RawResponse

BOUNDARY = "Anki-sync-boundary-1f3c"
LEGACY_CV = "ankidroid,2.15.6,android:13"
EMPTY = {}  # what legacy clients send for argument-less calls


@dataclass
class Part:
    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None


def text_part(name: str, value: str) -> Part:
    return Part(name, value.encode())


def data_part(data: bytes, *, filename: str | None = "data", content_type: str | None = "application/octet-stream") -> Part:
    return Part("data", data, filename, content_type)


def encode_form(parts: Iterable[Part], boundary: str = BOUNDARY) -> bytes:
    out = bytearray()
    for p in parts:
        out += f"--{boundary}\r\n".encode()
        disp = f'Content-Disposition: form-data; name="{p.name}"'
        if p.filename is not None:
            disp += f'; filename="{p.filename}"'
        out += disp.encode() + b"\r\n"
        if p.content_type is not None:
            out += f"Content-Type: {p.content_type}\r\n".encode()
        out += b"\r\n" + p.value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def form_parts(
    payload: Any = EMPTY,
    *,
    key: str | None = None,
    session: str | None = "legacy01",
    compress: bool = True,
    c: str | None = None,
    sk: str | None = None,
    v: str | None = None,
    data: bytes | None = None,
    data_first: bool = True,
) -> list[Part]:
    """The parts of one legacy call. `data` overrides the (compressed) payload bytes;
    `c` overrides the compression flag text (default "1" when compress, "0" otherwise)."""
    if data is None:
        body = raw.to_bytes(payload)
        data = gz(body) if compress else body
    flag = c if c is not None else ("1" if compress else "0")
    others = [text_part("c", flag)]
    if key is not None:
        others.append(text_part("k", key))
    if sk is not None:
        others.append(text_part("sk", sk))
    if session is not None:
        others.append(text_part("s", session))
    if v is not None:
        others.append(text_part("v", v))
    dp = data_part(data)
    return [dp, *others] if data_first else [*others, dp]


def post_form(
    endpoint: str,
    path: str,
    parts: Sequence[Part] | None = None,
    *,
    body: bytes | None = None,
    boundary: str = BOUNDARY,
    content_type: str | None = None,
    chunked: bool = False,
) -> RawResponse:
    if body is None:
        body = encode_form(parts or [], boundary)
    headers = {"Content-Type": content_type or f"multipart/form-data; boundary={boundary}"}
    return raw.request(endpoint, path, headers=headers, body=body, chunked=chunked)


def legacy(endpoint: str, method: str, payload: Any = EMPTY, *, prefix: str = "sync", chunked: bool = False, **kw: Any) -> RawResponse:
    """One legacy call to <endpoint><prefix>/<method>; keyword arguments as in form_parts."""
    return post_form(endpoint, f"{prefix}/{method}", form_parts(payload, **kw), chunked=chunked)


def media(endpoint: str, method: str, payload: Any = EMPTY, **kw: Any) -> RawResponse:
    return legacy(endpoint, method, payload, prefix="msync", **kw)


def body_json(r: RawResponse) -> Any:
    """A legacy success is the raw payload; assert it really is raw."""
    assert r.status == 200, r.describe()
    assert "anki-original-size" not in r.headers, f"legacy reply must be raw: {r.headers}"
    return json.loads(r.body)


# -- whole steps -------------------------------------------------------------


def login(endpoint: str, user: str, password: str) -> str:
    r = legacy(endpoint, "hostKey", {"u": user, "p": password}, session=None)
    return body_json(r)["key"]


def meta(endpoint: str, key: str, version: int = 10) -> RawResponse:
    return legacy(endpoint, "meta", {"v": version, "cv": LEGACY_CV}, key=key)


def new_session() -> str:
    return uuid.uuid4().hex[:8]
