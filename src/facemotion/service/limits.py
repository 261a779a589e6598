"""What the service accepts: sizes, counts, times, and who may call it.

:class:`Limits` holds the numbers; :class:`OriginGuard` is the ASGI middleware that turns away
requests whose ``Host`` or ``Origin`` is not allowed (DNS rebinding, and any web page the user
visits POSTing to the local server); :func:`read_body` reads a request body up to the limit
and answers 413 in a way the client actually receives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import FacemotionError, UsageError

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
BACKLOG = 2048  # connections the kernel queues before accept: a burst of clients waits instead of being reset


@dataclass
class Limits:
    max_body: int = 10 * 2**20          # bytes of one request body or WebSocket frame
    max_pixels: int = 40_000_000        # width x height, checked from the image header before decoding
    max_pending: int = 64               # HTTP requests admitted at once (reading, queued or running); 503 beyond
    max_streams: int = 32               # WebSocket streams open at once
    max_connections: int = 256          # TCP connections open at once
    max_parts: int = 8                  # parts of a multipart body
    workers: int = 1                    # inference threads, each with its own recognizer
    header_timeout: float = 10.0        # seconds for a request's headers to arrive whole
    read_timeout: float = 15.0          # seconds without a byte while a request body is arriving (then 408)
    decode_timeout: float = 10.0        # seconds one image may take to decode (then 422)
    keep_alive: float = 5.0             # seconds an idle connection is kept
    stream_idle: float = 30.0           # seconds a WebSocket stream may send no frame before it is closed
    allow_origins: list[str] = field(default_factory=list)  # beyond localhost; "*" allows any

    def __post_init__(self):
        for name in ("max_body", "max_pixels", "max_pending", "max_streams", "max_connections", "max_parts",
                     "workers"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("header_timeout", "read_timeout", "decode_timeout", "keep_alive", "stream_idle"):
            if not getattr(self, name) > 0:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        for o in self.allow_origins:
            if o != "*" and not (urlsplit(o).scheme in ("http", "https") and urlsplit(o).hostname):
                raise UsageError(f"--allow-origin {o!r}: expected an origin like http://192.168.1.5:8000, "
                               "or * for any")
        # as browsers send an origin (lower case, no slash after it): http://MyBox.local:8000/ names
        # the page that sends Origin: http://mybox.local:8000, for the guard and the CORS headers alike
        self.allow_origins = [o if o == "*" else o.rstrip("/").lower() for o in self.allow_origins]

    @property
    def any_origin(self) -> bool:
        return "*" in self.allow_origins


class RequestError(FacemotionError):
    """A request the service refuses: its HTTP status and one line for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# RFC 3986's host [":" port], read strictly: a name or IPv4 address, or an IPv6 one in brackets,
# then digits only; "127.0.0.1:1@evil" (userinfo), "host:x" and "a b" are not a host. A name may
# end in the root's dot ("localhost.", fully qualified: the same host), which is dropped
_HOST = re.compile(r"(?:(\[[0-9a-f:.]+\])|([a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?)\.?)(?::(\d{1,5}))?")


def _hostname(host: str) -> str | None:
    """'example.com:8000' / '[::1]:8000' / 'localhost.' -> 'example.com' / '[::1]' / 'localhost'
    (lower case, without the root's dot); None when ``host`` is not a host with an optional
    numeric port."""
    m = _HOST.fullmatch(host.strip().lower())
    if m is None or (m.group(3) is not None and int(m.group(3)) > 65535):
        return None
    return m.group(1) or m.group(2)


def _origin_host(origin: str) -> str | None:
    """'http://localhost:8000' -> 'localhost'; None for anything but scheme://host[:port]."""
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in ("http", "https"):
        return None
    return _hostname(rest)


class OriginGuard:
    """ASGI middleware: the ``Host`` must name this machine (or an allowed origin's host), and an
    ``Origin``, when a browser sends one, must be a local page or an allowed origin. Anything
    else gets a JSON 403 (a WebSocket is refused before it opens)."""

    def __init__(self, app, limits: Limits, bound_host: str = "127.0.0.1"):
        self.app = app
        self.any = limits.any_origin
        self.origins = {o.rstrip("/").lower() for o in limits.allow_origins if o != "*"}
        self.hosts = set(LOCAL_HOSTS) | {_hostname(urlsplit(o).netloc) for o in self.origins}
        if bound_host not in ("0.0.0.0", "::", ""):
            self.hosts.add(_hostname(bound_host if ":" not in bound_host else f"[{bound_host}]"))
        self.hosts.discard(None)

    @staticmethod
    def malformed(headers: dict[bytes, bytes]) -> str | None:
        """Why the ``Host`` or ``Origin`` header is not one a client sends (a 400), or None."""
        host = headers.get(b"host")
        if host is not None and _hostname(host.decode("latin-1")) is None:
            return (f"malformed Host header {host.decode('latin-1')!r}: expected a name or address and an "
                    "optional numeric port")
        origin = (headers.get(b"origin") or b"null").decode("latin-1")
        if origin != "null" and _origin_host(origin.rstrip("/").lower()) is None:  # "null": a sandboxed page
            return f"malformed Origin header {origin!r}: expected scheme://host[:port]"
        return None

    def refusal(self, headers: dict[bytes, bytes]) -> str | None:
        if self.any:
            return None
        if b"host" not in headers:  # HTTP/1.0 (1.1 without a Host is refused as malformed): browsers,
            return None             # the clients a DNS-rebinding page would use, always send one
        host = headers[b"host"].decode("latin-1")
        if _hostname(host) not in self.hosts:  # None (malformed) included
            return f"Host {host!r} is not served here (start with --allow-origin to serve other names)"
        origin = headers.get(b"origin")
        if origin is None:  # not a browser: curl, scripts, the benchmark
            return None
        origin = origin.decode("latin-1").rstrip("/").lower()
        if origin in self.origins or _origin_host(origin) in LOCAL_HOSTS:
            return None
        if origin == "null":  # a sandboxed page or a file:// one: no origin to name
            return ("Origin 'null' (a sandboxed or file:// page) may not call this server: serve the page over "
                    "http(s) and allow its origin with --allow-origin, or allow any with --allow-origin '*'")
        return f"Origin {origin!r} may not call this server (allow it with --allow-origin {origin})"

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        bad = self.malformed(headers)
        why = bad or self.refusal(headers)
        if why is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
            return
        await send_json(send, 400 if bad else 403, {"error": why})


async def send_json(send, status: int, obj, headers=()) -> None:
    """A whole JSON response over raw ASGI ``send`` (for layers below the framework)."""
    body = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


# A client sending more than the limit is read to the end, up to this much, before the 413:
# closing on unread data makes the kernel reset the connection, and a client still sending
# (most do: few wait for "100 Continue") would see the reset, never the answer.
DRAIN_LIMIT = 256 * 2**20


async def read_body(request, max_body: int) -> bytes:
    """The request's body, at most ``max_body`` bytes, else :class:`RequestError` 413 (after
    draining what the client sends, up to ``DRAIN_LIMIT``)."""
    declared = request.headers.get("content-length", "")
    waiting = request.headers.get("expect", "").lower() == "100-continue"  # it sends nothing until told to
    if declared.isdigit() and int(declared) > (max_body if waiting else DRAIN_LIMIT):
        raise RequestError(413, f"request body of {int(declared)} bytes is over the {_mib(max_body)} limit")
    from starlette.requests import ClientDisconnect

    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size <= max_body:
                chunks.append(chunk)
            elif size > DRAIN_LIMIT:
                break
    except ClientDisconnect:  # it left, or stalled past the read timeout: nobody reads this answer
        raise RequestError(400, "the connection closed before the whole body arrived") from None
    if size > max_body:
        raise RequestError(413, f"request body{f' of {size} bytes' if size <= DRAIN_LIMIT else ''} is over the "
                                f"{_mib(max_body)} limit")
    if size == 0 and "content-length" not in request.headers and "transfer-encoding" not in request.headers:
        # HTTP/1.0 without a length: its body, if any, could only be read to the connection's end
        raise RequestError(411, "length required: send the body with a Content-Length header (or chunked, in "
                                "HTTP/1.1)")
    if size == 0:
        raise RequestError(400, "empty request body: send the image's bytes, or a multipart form with an "
                                "'image' field")
    return b"".join(chunks)


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"
