"""Serving the app with uvicorn, with the guards uvicorn lacks.

uvicorn has an idle keep-alive timeout but none for a request's headers or body: a client
that sends one header byte every few seconds holds its connection forever. The h11 protocol
here adds those deadlines, a cap on open connections, and an answer for every request that
began: JSON bodies for the errors uvicorn answers by itself (a malformed request, too many
connections), 408 for a request that stalls, 400 for malformed or absurd framing (a chunk size
of 2^64, Content-Length beside Transfer-Encoding), an answer to a request whose client closed its
sending side (a half-close: what it sent is all there is), and a lingering close after any
answer that ends the connection, so the client reads it before the connection goes. An error's
message names what was wrong, never the request's bytes.
"""

from __future__ import annotations

import http
import json
import re

import h11
from uvicorn import Config, Server
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import BACKLOG, DRAIN_LIMIT, Limits

CHECK_EVERY = 0.5  # seconds between deadline checks of a connection
LINGER = 5.0  # seconds a refused request's remaining body is read (and dropped) before closing

# h11's words for a malformed request -> what the client must change
_WHY = {
    "missing mandatory host": "no Host header: HTTP/1.1 requests must name the host they are sent to",
    "found multiple host": "more than one Host header",
    "illegal request line": "the request line is malformed (expected METHOD /path HTTP/1.1)",
    "no request line": "no request line",
    "illegal header line": "a header line is malformed",
    "continuation line at start of headers": "a header line is malformed",
    "bad content-length": "the Content-Length header is not a length in bytes (digits only, at most 20 of them)",
    "conflicting content-length": "Content-Length headers that disagree",
    "content-length and transfer-encoding": "both Content-Length and Transfer-Encoding: send one of them",
    "unsupported transfer-encoding": "unsupported Transfer-Encoding: send Content-Length or chunked",
    "only transfer-encoding: chunked": "unsupported Transfer-Encoding: send Content-Length or chunked",
    "multiple transfer-encoding": "more than one Transfer-Encoding header: send Content-Length or chunked",
    "illegal chunk header": "a chunk's size line is malformed (expected hexadecimal digits, then CRLF)",
    "malformed chunk footer": "a chunk does not end where its size line says (CRLF expected there)",
    "incomplete chunked read": "the connection's sending side closed before the body's last (0) chunk",
    "without sending complete message body": "the connection's sending side closed before the whole body arrived",
    "peer unexpectedly closed": "the connection's sending side closed in the middle of the request's headers",
    "receive buffer too long": "the request's headers are too long",
    "got data when expecting eof": "data after a request that closed the connection",
}
# where h11 quotes the request's bytes in its message ("illegal request line: bytearray(b'...')")
_QUOTED = re.compile(r"[:\s(]*(?:bytearray\()?b['\"]")


def _reason(text: str) -> str:
    """h11's message (or ours) -> the client's reason, without any bytes it quotes from the request."""
    text = text.rstrip(".")
    said = next((why for key, why in _WHY.items() if key in text.lower()), None)
    return said or _QUOTED.split(text, 1)[0].strip()[:200] or "the request cannot be parsed"


async def _too_many_connections(scope, receive, send):
    body = json.dumps({"error": "server busy: too many open connections; retry shortly"}).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body})


class _LingeringClose:
    """The connection's transport as a request's cycle (uvicorn's) sees it: its ``close()`` after
    an answer that ends the connection (411, 413, HTTP/1.0) is a lingering close, so a client
    still sending reads the answer instead of a reset."""

    def __init__(self, protocol: "GuardedH11Protocol"):
        self._protocol = protocol

    def __getattr__(self, name):
        return getattr(self._protocol.transport, name)

    def close(self) -> None:
        self._protocol.linger()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines, a connection cap and an answer for
    every request (see the module's docstring)."""

    limits = Limits()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.app = _too_many_connections  # its request is still read, so the 503 arrives
        now = self.loop.time()
        self._since, self._last_data = now, now
        self._why, self._lingering, self._dropped, self._eof = "", None, 0, False
        self._watch = self.loop.call_later(CHECK_EVERY, self._check)
        conn_next = self.conn.next_event

        def next_event():  # keeps h11's reason for a malformed request (uvicorn's 400 drops it) and adds ours
            try:
                event = conn_next()
            except h11.RemoteProtocolError as e:
                self._why = str(e)
                raise
            self._refuse_framing(event)
            return event

        self.conn.next_event = next_event

    def _refuse_framing(self, event) -> None:
        """What h11 accepts but no client should send: Content-Length beside Transfer-Encoding (a
        request two parsers may split differently: RFC 9112 lets a server refuse it), and a chunk
        larger than any body this server reads (a size of 2^64 would be waited for until the
        read timeout). A RemoteProtocolError here is answered as h11's own are: 400."""
        if isinstance(event, h11.Request):
            names = {name for name, _ in event.headers}
            if b"content-length" in names and b"transfer-encoding" in names:
                self._why = "content-length and transfer-encoding"
                raise h11.RemoteProtocolError(self._why)
        # h11 keeps the size of the chunk it is reading here (no public name for it; without it,
        # such a chunk ends at the read timeout, with a 408)
        chunk = getattr(getattr(self.conn, "_reader", None), "_bytes_in_chunk", 0)
        if isinstance(chunk, int) and chunk > DRAIN_LIMIT:
            self._why = (f"a chunk of {chunk} bytes, more than the {DRAIN_LIMIT // 2**20} MiB this server reads of "
                         "any body")
            raise h11.RemoteProtocolError(self._why)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not isinstance(self.cycle.transport, _LingeringClose):
            self.cycle.transport = _LingeringClose(self)  # before its app runs (a task, started later)

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        if self._lingering is not None:  # after an answer that ends the connection: read and dropped
            self._dropped += len(data)
            if self._dropped > DRAIN_LIMIT:
                self.transport.close()
            return
        if self.conn.their_state is h11.MUST_CLOSE:  # their request said it was the last: nothing follows it
            return
        super().data_received(data)

    def eof_received(self):
        """The client closed its sending side (a half-close): what it sent is all there is. A
        request in progress is answered (a body read to the end, HTTP/1.0's way, is complete; a
        cut one gets 400), one already read gets its answer, and the connection closes after."""
        state = self.conn.their_state
        if self._lingering is not None or self.transport.is_closing():
            return None
        if state is h11.SEND_BODY or (state is h11.IDLE and self.conn.trailing_data[0]):
            self._eof = True
            self.conn.receive_data(b"")
            self.handle_events()
            return True  # the sending side stays open for the answer
        if state in (h11.DONE, h11.MUST_CLOSE) and self.cycle is not None and not self.cycle.response_complete:
            self._eof = True
            return True
        return None  # nothing begun: closed

    def on_response_complete(self) -> None:
        if self._lingering is not None:  # ended with its answer: no keep-alive, no next request
            self.server_state.total_requests += 1
            return
        super().on_response_complete()
        self._since = self.loop.time()  # the next request's headers are timed from here
        if self._eof and not self.transport.is_closing():
            self.transport.close()  # the client sends nothing more

    def _check(self) -> None:
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._lingering is not None:
            if now - self._lingering > LINGER or now - self._last_data > 0.5:
                return self.transport.close()
            self._watch = self.loop.call_later(0.1, self._check)
            return
        state = self.conn.their_state
        if self.flow.read_paused:  # the app has not read what came yet: not the client's delay
            self._last_data = now
        idle_keep_alive = self.timeout_keep_alive_task is not None  # uvicorn's own timer runs
        if state is h11.IDLE and not idle_keep_alive and now - self._since > self.limits.header_timeout:
            if self.conn.trailing_data[0]:  # part of a request came: it is answered
                return self.refuse(408, f"the request's headers did not all arrive within "
                                        f"{self.limits.header_timeout:g} s (--header-timeout)")
            return self._drop()  # a connection that never began a request
        if state is h11.SEND_BODY and now - self._last_data > self.limits.read_timeout:
            return self.refuse(408, f"the request's body stalled: no byte for {self.limits.read_timeout:g} s "
                                    "(--read-timeout)")
        self._watch = self.loop.call_later(CHECK_EVERY, self._check)

    def _drop(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()

    def refuse(self, status: int, message: str) -> None:
        """Answer the request in progress with ``status`` and ``{"error": message}``, in place of the
        app (whose answer, if it comes, goes nowhere), then a lingering close. A request whose
        answer has begun is only closed."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:
                return self._drop()
            cycle.disconnected = True  # the app reads the end of its body, and its answer is dropped
            cycle.message_event.set()
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):  # this request was answered already
            return self._drop()
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            for event in (h11.Response(status_code=status, headers=headers, reason=http.HTTPStatus(status).phrase),
                          h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:
            return self._drop()
        self.linger()

    def linger(self) -> None:
        """A lingering close: our side is shut after what was written, and what the client still
        sends is read and dropped until it stops (0.5 s without a byte) or ``LINGER`` seconds
        pass. Closing with its data unread would make the kernel reset the connection, and a
        client still sending would see the reset, never the answer."""
        if self.transport.is_closing() or self._lingering is not None:
            return
        if self.transport.can_write_eof():
            try:
                self.transport.write_eof()
            except OSError:  # the client has gone meanwhile (ENOTCONN): nothing to linger for
                self.transport.close()
                return
        self._lingering = self._last_data = self.loop.time()
        self.flow.resume_reading()  # reading may have paused under a large body: the rest is read now
        self._watch.cancel()
        self._watch = self.loop.call_later(0.1, self._check)

    def handle_websocket_upgrade(self, event) -> None:
        self._watch.cancel()  # the WebSocket protocol takes the connection, with its own pings
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc) -> None:
        self._watch.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.refuse(400, f"malformed HTTP request: {_reason(self._why or msg)}")


def make_server(app, limits: Limits, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> Server:
    """A uvicorn server for ``app`` on ``host:port`` under ``limits`` (``.run()`` blocks)."""
    protocol = type("Protocol", (GuardedH11Protocol,), {"limits": limits})
    config = Config(app, host=host, port=port, http=protocol, ws="websockets-sansio", lifespan="on",
                    server_header=False, timeout_keep_alive=limits.keep_alive, limit_concurrency=None, backlog=BACKLOG,
                    ws_max_size=limits.max_body, ws_per_message_deflate=False, h11_max_incomplete_event_size=16384,
                    log_level=log_level, access_log=False)
    return Server(config)
