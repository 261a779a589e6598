"""The routes of ``facemotion serve`` (FastAPI): a thin layer over the public API.

Every image is decoded and analysed on the :class:`~.pool.InferencePool`; the event loop only
moves bytes, so slow clients cost no CPU and the queue stays first come, first served.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import cv2
from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.websockets import WebSocketDisconnect

from ..labels import EMOTIONS
from ..render import COLORS, draw
from ..results import to_full
from ..video import FaceTracking
from .browser import mount as mount_browser
from .limits import Limits, OriginGuard, RequestError, read_body
from .pool import InferencePool
from .upload import decode

STATIC = Path(__file__).with_name("static")
# the page and the docs load nothing from elsewhere, and nothing may frame them
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                           "connect-src 'self' ws: wss:; media-src 'self' blob:; "
                                           "frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


class Face(BaseModel):
    box: tuple[int, int, int, int] = Field(description="x, y, width, height in pixels")
    confidence: float = Field(description="the detector's confidence, 0-1")
    emotions: dict[str, float] = Field(description=f"probability of each emotion: {', '.join(EMOTIONS)}")
    dominant_emotion: str


class Detection(BaseModel):
    width: int
    height: int
    faces: list[Face]


class Error(BaseModel):
    error: str


IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                                 "description": "any image format Pillow reads"},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "image": {"type": "string", "format": "binary"}}}}}}}
ERRORS = {code: {"model": Error, "description": what} for code, what in (
    (400, "not an image, or a malformed body"), (403, "Host or Origin not allowed"),
    (413, "body or image over the limits"), (503, "queue full; retry shortly"))}


def _analyze(rec, body: bytes, content_type: str, limits: Limits):
    """-> (the image analysed, the picture's full (width, height), faces in full-size pixels)."""
    image, size = decode(body, content_type, limits.max_pixels, limits.max_parts, rec)
    return image, size, to_full(rec.analyze(image), image.shape, size)


def _annotate(rec, body: bytes, content_type: str, limits: Limits, bars: bool) -> bytes:
    image, size, faces = _analyze(rec, body, content_type, limits)
    if image.shape[:2] != size[::-1]:  # analysed reduced: draw on the whole picture
        image, _ = decode(body, content_type, limits.max_pixels, limits.max_parts)
    return cv2.imencode(".jpg", draw(image, faces, bars=bars), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _track(rec, data: bytes, tracking: FaceTracking, index: int, limits: Limits):
    image, _ = decode(data, "image/jpeg", limits.max_pixels)
    faces, _ = tracking(rec, image, index)
    return image.shape, faces


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
    streams = {"open": 0}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        pool.close()

    app = FastAPI(title="facemotion", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Faces and their emotions (FER2013's seven) in images and live video. "
                              "Every error is JSON: {\"error\": \"...\"}.")
    app.state.pool, app.state.limits = pool, limits

    @app.exception_handler(RequestError)
    async def request_error(request, e: RequestError):
        headers = {"Retry-After": "1"} if e.status == 503 else {}
        if e.status == 413:  # what was sent past the limit was not read to the end: do not reuse
            headers["Connection"] = "close"
        return JSONResponse({"error": str(e)}, e.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, e: HTTPException):
        text = {404: f"no such endpoint {request.url.path}", 405: f"{request.method} is not allowed on "
                f"{request.url.path}"}.get(e.status_code, str(e.detail))
        return JSONResponse({"error": text}, e.status_code, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e: RequestValidationError):
        first = e.errors()[0]
        return JSONResponse({"error": f"{'.'.join(map(str, first['loc']))}: {first['msg']}"}, 422)

    @app.exception_handler(Exception)
    async def internal(request, e: Exception):
        return JSONResponse({"error": f"internal error ({type(e).__name__}); see the server's log"}, 500)

    @app.get("/health", summary="Liveness, the model, and the load")
    async def health():
        r = pool.recognizer
        return {"status": "ok", "model": r.classifier.name, "detector": r.detector.name, "workers": pool.workers,
                "pending": pool.pending, "streams": streams["open"], "emotions": list(EMOTIONS),
                "colors": {e: "#{2:02x}{1:02x}{0:02x}".format(*COLORS[e]) for e in EMOTIONS}}

    async def analyzed(request: Request):
        with pool.admit():
            body = await read_body(request, limits.max_body)
            return await pool.run(_analyze, body, request.headers.get("content-type", ""), limits)

    @app.post("/v1/detect", summary="Every face and its emotions, as JSON", response_model=Detection,
              responses=ERRORS, openapi_extra=IMAGE_BODY)
    async def detect(request: Request):
        _, (width, height), faces = await analyzed(request)
        return JSONResponse({"width": width, "height": height, "faces": faces})

    @app.post("/v1/annotate", summary="The image with boxes, labels and emotion bars, as JPEG",
              responses={200: {"content": {"image/jpeg": {}}}, **ERRORS}, openapi_extra=IMAGE_BODY)
    async def annotate(request: Request, bars: bool = True):
        with pool.admit():
            body = await read_body(request, limits.max_body)
            jpeg = await pool.run(_annotate, body, request.headers.get("content-type", ""), limits, bars)
        return Response(jpeg, media_type="image/jpeg")

    # the first version's paths stay
    app.post("/detect", include_in_schema=False)(detect)
    app.post("/annotate", include_in_schema=False)(annotate)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        """Send JPEG frames (binary messages); each answer is ``{frame, width, height, faces:
        [{face_id, box, confidence, emotions, dominant_emotion}], ms}`` with ids stable across
        frames. One frame is analysed at a time: frames that arrive meanwhile replace each
        other, and only the newest is analysed next (``frame`` counts every frame received)."""
        await ws.accept()  # then closed with a reason, which a refused handshake could not carry
        if streams["open"] >= limits.max_streams:
            await ws.close(code=1013, reason=f"too many streams ({limits.max_streams}); retry later")
            return
        streams["open"] += 1
        try:
            await _serve_stream(ws, pool, limits)
        finally:
            streams["open"] -= 1

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(STATIC / "docs.html", headers=PAGE_HEADERS)

    mount_browser(app, pool)  # /web/...: the page's in-browser engine (the models, the browser files)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(CORSMiddleware, allow_origins=["*"] if limits.any_origin else limits.allow_origins,
                       allow_methods=["GET", "POST"], allow_headers=["content-type"])
    app.add_middleware(OriginGuard, limits=limits, bound_host=host)
    return app


async def _serve_stream(ws: WebSocket, pool: InferencePool, limits: Limits) -> None:
    # a face is shown from its second detection on, so a one-frame false detection never flashes;
    # a camera has no scene cuts, and the frames skipped between two analysed ones are no cut
    # either; under load those frames are far apart, so a face may move further between two
    tracking = FaceTracking(every=1, smooth=0.5, min_hits=2, scene_cuts=False, reach=1.5)
    latest: list = []  # [(index, bytes)]: the newest frame not yet analysed
    arrived = asyncio.Event()
    received = 0

    async def receive():
        nonlocal received
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                arrived.set()
                return
            if msg.get("bytes"):
                latest[:] = [(received, msg["bytes"])]
                received += 1
                arrived.set()
            else:
                await ws.send_json({"error": "send frames as binary messages of JPEG bytes"})

    reader = asyncio.create_task(receive())
    try:
        while True:
            await arrived.wait()
            arrived.clear()
            if not latest:
                if reader.done():
                    return
                continue
            (index, data), = latest
            latest.clear()
            t0 = time.perf_counter()
            try:
                shape, faces = await pool.run(_track, data, tracking, index, limits)
                out = {"frame": index, "width": shape[1], "height": shape[0], "faces": faces}
            except RequestError as e:
                out = {"frame": index, "error": str(e)}
            out["ms"] = round((time.perf_counter() - t0) * 1000, 1)
            await ws.send_json(out)
    except WebSocketDisconnect:
        pass
    finally:
        reader.cancel()
