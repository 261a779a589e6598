"""``facemotion serve``'s ASGI app (FastAPI): the routes of :mod:`.routes`, the error
handlers, the page's static files and the request guards, with the inference pool, the
limits and the stream count on ``app.state``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from ..names import one_line
from .browser import mount as mount_browser
from .limits import Limits, OriginGuard, RequestError
from .pool import InferencePool
from .routes import STATIC, router


def create_app(recognizer, limits: Limits | None = None, host: str = "127.0.0.1") -> FastAPI:
    """The ASGI app. ``recognizer``: an ``EmotionRecognizer`` (one worker), or a function
    making one, called once per ``limits.workers`` inference thread."""
    limits = limits or Limits()
    if not callable(recognizer):
        if limits.workers > 1:
            raise ValueError("several workers need a function that makes a recognizer per worker")
        make = (lambda r: lambda: r)(recognizer)
    else:
        make = recognizer
    pool = InferencePool(make, limits.workers, limits.max_pending)
    # Pillow's format plugins (and pillow-heif's) are loaded now, not inside the first request's
    # decode time limit: under load that first decode could be stopped, and answer 422
    from ..formats import pil_formats

    pil_formats()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        pool.close()

    app = FastAPI(title="facemotion", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description=f"Faces and their emotions ({', '.join(pool.recognizer.labels)}) in images and live video. "
                              "Every error is JSON: {\"error\": \"...\"}.")
    app.state.pool, app.state.limits, app.state.streams = pool, limits, 0
    for exc, handler in ((RequestError, _request_error), (HTTPException, _http_error),
                         (RequestValidationError, _invalid), (Exception, _internal)):
        app.add_exception_handler(exc, handler)
    app.include_router(router)
    mount_browser(app, pool, limits.max_pixels)  # /web/...: the page's in-browser engine (the models, the browser files)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # CORS headers for every origin OriginGuard lets in: the allowed ones and a local page on any port
    app.add_middleware(CORSMiddleware, allow_origins=["*"] if limits.any_origin else limits.allow_origins,
                       allow_origin_regex=r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?",
                       allow_methods=["GET", "POST"], allow_headers=["content-type"],
                       expose_headers=["x-request-id"])  # a page can read the id a 500's message names
    app.add_middleware(OriginGuard, limits=limits, bound_host=host)
    app.add_middleware(RequestIds)  # outermost: a refused request has its id too
    return app


log = logging.getLogger("facemotion.service")


class RequestIds:
    """ASGI middleware: each HTTP request gets an id, sent back as ``X-Request-ID`` and named
    in every line the server logs about it (and in a 500's message, to find that line)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = secrets.token_hex(6)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        return await self.app(scope, receive, send_with_id)


def request_id(request) -> str:
    return request.scope.get("state", {}).get("request_id", "-")


async def _request_error(request, e: RequestError):
    headers = {"Retry-After": "1"} if e.status == 503 else {}
    # 413: what was sent past the limit was not read to the end; 411: a body without a length has
    # no end to read to (what follows would be taken for the next request): the connection ends
    # with the answer (a lingering close, server.py: the client reads it before the close)
    if e.status in (411, 413):
        headers["Connection"] = "close"
    return JSONResponse({"error": str(e)}, e.status, headers=headers)


async def _http_error(request, e: HTTPException):
    text = {404: f"no such endpoint {request.url.path}", 405: f"{request.method} is not allowed on "
            f"{request.url.path}"}.get(e.status_code, str(e.detail))
    return JSONResponse({"error": text}, e.status_code, headers=e.headers)


async def _invalid(request, e: RequestValidationError):
    first = e.errors()[0]
    return JSONResponse({"error": f"{'.'.join(map(str, first['loc']))}: {first['msg']}"}, 422)


async def _internal(request, e: Exception):
    rid = request_id(request)
    # the path as the client sent it, on one line: a newline in it cannot forge a log line
    log.error("request %s: %s %s: internal error", rid, request.method, one_line(request.url.path), exc_info=e)
    return JSONResponse({"error": f"internal error ({type(e).__name__}); see the server's log, request {rid}"}, 500)
