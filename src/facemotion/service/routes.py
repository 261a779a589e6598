"""The routes of ``facemotion serve``, as one :class:`fastapi.APIRouter` over the public API.

What a route needs lives on ``app.state`` (set by :func:`.app.create_app`): ``pool`` (the
:class:`~.pool.InferencePool`: every decode and analysis runs on it; the event loop only
moves bytes), ``limits`` (:class:`~.limits.Limits`) and ``streams`` (open WebSocket streams).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from pathlib import Path

import cv2
from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect

from ..labels import LABEL_SETS
from ..render import COLORS, draw
from ..video import FaceTracking
from .limits import Limits, RequestError, read_body
from .pool import InferencePool
from .upload import as_request_error, decode, whole

STATIC = Path(__file__).with_name("static")
# the page and the docs load nothing from elsewhere, and nothing may frame them
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                                           "connect-src 'self' ws: wss:; media-src 'self' blob:; "
                                           "frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


class FaceOut(BaseModel):
    box: tuple[int, int, int, int] = Field(description="x, y, width, height in pixels")
    confidence: float = Field(description="the detector's confidence, 0-1")
    # the served model's labels: one of facemotion's label sets (GET /health lists the model's)
    emotions: dict[str, float] = Field(description="probability of each emotion of the model (GET /health: "
                                                   "`emotions`): " + "; or ".join(", ".join(ls) for ls in
                                                                                 LABEL_SETS.values()))
    dominant_emotion: str
    # with `facemotion serve --mesh` (docs/mesh.md); null for a face too small or cut for the mesh, and
    # all but mesh_presence null where the mesh sees no face (mesh_presence under 0.5)
    landmarks: list[list[float]] | None = Field(None, description="468 [x, y, z] points in pixels (--mesh)")
    mesh_presence: float | None = Field(None, description="the mesh's face probability, 0-1 (--mesh)")
    pose: dict[str, float] | None = Field(None, description="yaw, pitch, roll in degrees (--mesh)")
    measures: dict[str, float | None] | None = Field(
        None, description="smile, mouth_open, ... (--mesh; docs/mesh.md); one reading points beyond the picture null")


class DetectResponse(BaseModel):
    width: int
    height: int
    faces: list[FaceOut]


class Error(BaseModel):
    error: str


IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                                 "description": "any image format Pillow reads"},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "image": {"type": "string", "format": "binary"}}}},
    "application/json": {"schema": {"type": "object", "properties": {"image": {
        "type": "string", "description": "a data URI (data:image/jpeg;base64,...) or plain base64; img also"}}}},
    "text/plain": {"schema": {"type": "string"}, "description": "a data URI, as canvas.toDataURL() gives"}}}}
ERRORS = {code: {"model": Error, "description": what} for code, what in (
    (400, "not an image, or a malformed request or body"), (403, "Host or Origin not allowed"),
    (408, "the body stalled (--read-timeout)"), (411, "a body without a length"),
    (413, "body or image over the limits (bytes, pixels, a JPEG's scans)"), (415, "a format facemotion does not read"),
    (422, "the image took longer than --decode-timeout to decode"), (503, "queue full; retry shortly"))}

router = APIRouter()
# libjpeg's JPEG_MAX_DIMENSION: the widest or tallest picture a JPEG holds
JPEG_MAX_SIDE = 65_500


# -- on an inference thread --------------------------------------------------------------------

def _analyze(rec, body: bytes, content_type: str, limits: Limits):
    """-> (the request's picture, as read for analysis; its faces in full-size pixels)."""
    pic = decode(body, content_type, limits.max_pixels, limits.max_parts, rec, limits.decode_timeout)
    with as_request_error(body):  # what the picture itself cannot give (an ImageError) is the client's 4xx
        return pic, rec.analyze(pic).faces


def _annotate(rec, body: bytes, content_type: str, limits: Limits, bars: bool, blur: bool = False) -> bytes:
    pic, faces = _analyze(rec, body, content_type, limits)
    # drawn on the whole picture: decoded once more only when it was analysed reduced
    picture = whole(pic, limits.decode_timeout)
    h, w = picture.shape[:2]
    if max(h, w) > JPEG_MAX_SIDE:  # within the pixel limit (70,000 x 2), not within a JPEG's sides
        raise RequestError(413, f"request body: a picture of {w}x{h} cannot be drawn as a JPEG (at most "
                                f"{JPEG_MAX_SIDE:,} pixels a side); /v1/detect gives its faces")
    ok, jpeg = cv2.imencode(".jpg", draw(picture, faces, bars=bars, blur=blur), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RequestError(500, f"the annotated {w}x{h} picture could not be encoded as a JPEG")
    return jpeg.tobytes()


# each inference thread's recognizer as a video is read (made once: a thread uses its own alone)
_AS_VIDEO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _track(rec, data: bytes, tracking: FaceTracking, index: int, limits: Limits):
    pic = decode(data, "image/jpeg", limits.max_pixels, timeout=limits.decode_timeout, called="frame")
    # a stream's frames are searched as `facemotion video`'s and `webcam`'s are (400 px, unless
    # serve's --detect-size says otherwise), not at a photo's size
    if (video := _AS_VIDEO.get(rec)) is None:
        video = _AS_VIDEO[rec] = rec.for_video()
    with as_request_error(data, "frame"):
        faces, _ = tracking(video, pic.pixels, index)
    return pic.pixels.shape, faces


# -- the routes --------------------------------------------------------------------------------

def _takes(*names: str):
    """A route's query parameters, checked: FastAPI drops the ones it does not know, and a client
    asking for ``?model=x`` would get the served model's answer without a word."""
    def check(request: Request):
        unknown = sorted(set(request.query_params) - set(names))
        if unknown:
            takes = f"it takes {', '.join(names)}" if names else "it takes none"
            raise RequestError(422, f"query.{unknown[0]}: not a parameter of {request.url.path} ({takes})")
    return [Depends(check)]


async def health(request: Request):
    state = request.app.state
    r = state.pool.recognizer
    return {"status": "ok", "model": r.model_name, "detector": r.detector_name, "workers": state.pool.workers,
            "pending": state.pool.pending, "streams": state.streams, "emotions": list(r.labels),
            "colors": {e: "#{2:02x}{1:02x}{0:02x}".format(*COLORS[e]) for e in r.labels}}


# any query is taken (a monitor's cache-buster, ?ts=...): the answer depends on none
router.add_api_route("/health", health, methods=["GET"], summary="Liveness, the model, and the load")
# HEAD too where a monitor probes: curl -I, load balancers' checks (GET's answer without its body);
# out of the schema, where it would be a second operation of the same id
router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)


async def _run_on_body(request: Request, fn, *args):
    pool, limits = request.app.state.pool, request.app.state.limits
    with pool.admit():
        body = await read_body(request, limits.max_body)
        return await pool.run(fn, body, request.headers.get("content-type", ""), limits, *args)


@router.post("/v1/detect", summary="Every face and its emotions, as JSON", response_model=DetectResponse,
             responses=ERRORS, openapi_extra=IMAGE_BODY, dependencies=_takes())
async def detect(request: Request):
    pic, faces = await _run_on_body(request, _analyze)
    return JSONResponse({"width": pic.size[0], "height": pic.size[1], "faces": faces})


@router.post("/v1/annotate", summary="The image with boxes, labels and emotion bars, as JPEG",
             responses={200: {"content": {"image/jpeg": {}}}, **ERRORS}, openapi_extra=IMAGE_BODY,
             dependencies=_takes("bars", "blur"))
async def annotate(request: Request, bars: bool = True, blur: bool = False):
    """``?bars=false``: boxes and labels only; ``?blur=true``: each face found pixelated."""
    return Response(await _run_on_body(request, _annotate, bars, blur), media_type="image/jpeg")


# the first version's paths stay
router.add_api_route("/detect", detect, methods=["POST"], include_in_schema=False, dependencies=_takes())
router.add_api_route("/annotate", annotate, methods=["POST"], include_in_schema=False,
                     dependencies=_takes("bars", "blur"))


@router.websocket("/v1/stream")
async def stream(ws: WebSocket):
    """Send JPEG frames (binary messages); each answer is ``{frame, width, height, faces:
    [{face_id, box, confidence, emotions, dominant_emotion}], ms}`` with ids stable across
    frames. One frame is analysed at a time: frames that arrive meanwhile replace each
    other, and only the newest is analysed next (``frame`` counts every frame received)."""
    state = ws.app.state
    await ws.accept()  # then closed with a reason, which a refused handshake could not carry
    if state.streams >= state.limits.max_streams:
        await ws.close(code=1013, reason=f"too many streams ({state.limits.max_streams}); retry later")
        return
    state.streams += 1
    try:
        await _serve_stream(ws, state.pool, state.limits)
    finally:
        state.streams -= 1


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def page():
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


@router.get("/docs", include_in_schema=False)
async def docs():
    return FileResponse(STATIC / "docs.html", headers=PAGE_HEADERS)


async def _serve_stream(ws: WebSocket, pool: InferencePool, limits: Limits) -> None:
    # a face is shown from its second detection on, so a one-frame false detection never flashes;
    # a camera has no scene cuts, and the frames skipped between two analysed ones are no cut
    # either (a moving camera's frames five apart score as cuts); under load those frames are far
    # apart, so a face may move further between two. A frame of another size is another source
    # (photos sent one by one): new ids
    tracking = FaceTracking(every=1, smooth=0.5, min_hits=2, scene_cuts=False, reach=1.5, resized_is_cut=True)
    latest: list = []  # [(index, bytes)]: the newest frame not yet analysed
    arrived = asyncio.Event()
    received = 0

    async def receive():
        nonlocal received
        try:  # however it ends (a reply to a client already gone raises), the stream is told
            while True:
                try:  # a stream that sends nothing must not hold one of --max-streams' places for ever
                    msg = await asyncio.wait_for(ws.receive(), limits.stream_idle)
                except asyncio.TimeoutError:
                    await ws.close(code=1008, reason=f"no frame for {limits.stream_idle:g} s; closed")
                    return
                if msg["type"] == "websocket.disconnect":
                    return
                if msg.get("bytes"):
                    latest[:] = [(received, msg["bytes"])]
                    received += 1
                    arrived.set()
                elif msg.get("bytes") is not None:  # an empty binary message: a frame that cannot be read
                    await ws.send_json({"frame": received, "error": "an empty frame: send each frame's JPEG bytes"})
                    received += 1
                else:
                    await ws.send_json({"error": "send frames as binary messages of JPEG bytes"})
        finally:
            arrived.set()

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
        if reader.done() and not reader.cancelled():
            reader.exception()  # a reply to a client already gone: retrieved, not logged as a traceback
