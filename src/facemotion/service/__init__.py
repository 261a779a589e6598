"""``facemotion serve``: a web service and a browser page over the public API (FastAPI + uvicorn,
the ``[serve]`` extra).

    GET  /              the page: a photo (upload or drop) or the webcam, drawn live
    GET  /docs          the API's documentation (from /openapi.json, nothing fetched elsewhere)
    GET  /health        {"status": "ok", "model", "detector", "workers", "pending", "streams", ...}
    POST /v1/detect     body = image bytes, a multipart form field "image", a data URI, or
                        JSON {"image": data URI or base64}
                        -> {"width": W, "height": H, "faces": [...detect_emotions records...]}
    POST /v1/annotate   same input -> annotated JPEG (?bars=false: boxes and labels only; ?blur=true: faces pixelated)
    WS   /v1/stream     JPEG frames in, {"frame", "faces": [{"face_id", "box", "emotions", ...}]} out
    POST /detect, /annotate: the first version's paths, the same as /v1/...

Errors are JSON ``{"error": "..."}`` with their status. :class:`~.limits.Limits` bounds the
body, the pixels, the queue, the streams, the connections and the time a client may take;
only local pages (and ``Limits.allow_origins``) may call it from a browser.
"""

from __future__ import annotations

from ..errors import FacemotionError
from .limits import BACKLOG, Limits


def create_app(recognizer, limits: Limits | None = None, host: str = "127.0.0.1"):
    """The ASGI app (see :func:`.app.create_app`)."""
    from .app import create_app

    return create_app(recognizer, limits, host)


def serve(recognizer, limits: Limits | None = None, host: str = "127.0.0.1", port: int = 8000,
          on_ready=None) -> None:
    """Serve until interrupted. ``on_ready(url)`` is called once the socket listens (``port=0``
    picks a free port, and the url says which)."""
    from ..validate import listen_address
    from .server import make_server

    host = listen_address("host", host)
    limits = limits or Limits()
    server = make_server(create_app(recognizer, limits, host), limits, host, port)
    sock = _listen(host, port)
    if on_ready is not None:
        name = sock.getsockname()
        shown = f"[{name[0]}]" if ":" in name[0] else name[0]
        on_ready(f"http://{shown}:{name[1]}/")
    server.run(sockets=[sock])


def _listen(host: str, port: int):
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise FacemotionError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None
    sock.listen(BACKLOG)  # now, so that a client told the url is queued, not refused, while uvicorn starts
    return sock


__all__ = ["Limits", "create_app", "serve"]
