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

from .limits import BACKLOG, Limits

CHECK_EVERY = 0.5  # seconds between deadline checks of a connection


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
        self._watch = self.loop.call_later(CHECK_EVERY, self._check)

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._since = self.loop.time()  # the next request's headers are timed from here

    def _check(self) -> None:
        if self.transport.is_closing():
            return
        now = self.loop.time()
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
        body = json.dumps({"error": f"malformed HTTP request ({msg.rstrip('.').lower()})"}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def make_server(app, limits: Limits, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> Server:
    """A uvicorn server for ``app`` on ``host:port`` under ``limits`` (``.run()`` blocks)."""
    protocol = type("Protocol", (GuardedH11Protocol,), {"limits": limits})
    config = Config(app, host=host, port=port, http=protocol, ws="websockets-sansio", lifespan="on",
                    server_header=False, timeout_keep_alive=limits.keep_alive, limit_concurrency=None, backlog=BACKLOG,
                    ws_max_size=limits.max_body, ws_per_message_deflate=False, h11_max_incomplete_event_size=16384,
                    log_level=log_level, access_log=False)
    return Server(config)
