"""Serving the app with uvicorn, with the guards uvicorn lacks.

uvicorn has an idle keep-alive timeout but none for a request's headers or body: a client
that sends one header byte every few seconds holds its connection forever. The h11 protocol
here adds those deadlines, a cap on open connections, and JSON bodies for the errors uvicorn
answers by itself (a malformed request, too many connections).
"""

from __future__ import annotations

import json

import h11
from uvicorn import Config, Server
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import BACKLOG, DRAIN_LIMIT, Limits

CHECK_EVERY = 0.5  # seconds between deadline checks of a connection
LINGER = 5.0  # seconds a refused request's remaining body is read (and dropped) before closing

# h11's words for a malformed request -> what the client must change
_WHY = {
    "missing mandatory host": "no Host header: HTTP/1.1 requests must name the host they are sent to",
    "illegal header line": "a header line is malformed",
    "bad content-length": "the Content-Length header is not a number",
    "content-length and transfer-encoding": "both Content-Length and Transfer-Encoding: send one of them",
    "unsupported transfer-encoding": "unsupported Transfer-Encoding: send Content-Length or chunked",
}


async def _too_many_connections(scope, receive, send):
    body = json.dumps({"error": "server busy: too many open connections; retry shortly"}).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines and a connection cap."""

    limits = Limits()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.app = _too_many_connections  # its request is still read, so the 503 arrives
        now = self.loop.time()
        self._since, self._last_data = now, now
        self._why, self._lingering, self._dropped = "", None, 0
        self._watch = self.loop.call_later(CHECK_EVERY, self._check)
        conn_next = self.conn.next_event

        def next_event():  # keeps h11's reason for a malformed request: uvicorn's 400 drops it
            try:
                return conn_next()
            except h11.RemoteProtocolError as e:
                self._why = str(e)
                raise

        self.conn.next_event = next_event

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        if self._lingering is not None:  # after a 400: what the client still sends is read and dropped
            self._dropped += len(data)
            if self._dropped > DRAIN_LIMIT:
                self.transport.close()
            return
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._since = self.loop.time()  # the next request's headers are timed from here

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
            return self._drop()
        if state is h11.SEND_BODY and now - self._last_data > self.limits.read_timeout:
            return self._drop()
        self._watch = self.loop.call_later(CHECK_EVERY, self._check)

    def _drop(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()

    def handle_websocket_upgrade(self, event) -> None:
        self._watch.cancel()  # the WebSocket protocol takes the connection, with its own pings
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc) -> None:
        self._watch.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        why = self._why.rstrip(".").lower()
        why = next((text for key, text in _WHY.items() if key in why), why or msg.rstrip(".").lower())
        body = json.dumps({"error": f"malformed HTTP request: {why}"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        # a lingering close: closing with the client's body unread makes the kernel reset the
        # connection, and a client still sending sees the reset, never this answer
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._lingering = self._last_data = self.loop.time()


def make_server(app, limits: Limits, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> Server:
    """A uvicorn server for ``app`` on ``host:port`` under ``limits`` (``.run()`` blocks)."""
    protocol = type("Protocol", (GuardedH11Protocol,), {"limits": limits})
    config = Config(app, host=host, port=port, http=protocol, ws="websockets-sansio", lifespan="on",
                    server_header=False, timeout_keep_alive=limits.keep_alive, limit_concurrency=None, backlog=BACKLOG,
                    ws_max_size=limits.max_body, ws_per_message_deflate=False, h11_max_incomplete_event_size=16384,
                    log_level=log_level, access_log=False)
    return Server(config)
