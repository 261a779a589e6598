"""Bring a training run back from the device (GPU) machine in pieces it can return.

The device tool returns at most 8 files of 16 MiB each per call (64 MiB in all), and a run's
best.pt holds the optimizer and EMA state too (134 MB for resnet18_fer). ``pack`` writes
the selected weights (EMA when present) with the run's metadata and its whole training
history -- so ``checkpoint_compute`` still charges every epoch the run spent, not only
those up to the best one -- as parts of at most ``--part-mib`` MiB plus a manifest with
SHA-256 sums; ``unpack`` joins them here and refuses a missing or damaged part.

On the device machine (the run reads only train + PublicTest; see DEVELOPERS.md):

    python3 scripts/device_transfer.py pack runs/r18_s1/best.pt $OUT/r18_s1

Here, after the files come back:

    python scripts/device_transfer.py unpack <files_at>/r18_s1 -o runs/r18_s1/best.pt
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from facemotion.errors import FacemotionError  # noqa: E402
from facemotion.fileio import write_bytes, write_text  # noqa: E402
from facemotion.training.checkpoint import load_checkpoint, run_history, slim  # noqa: E402


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cast(state: dict, dtype) -> dict:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def pack(checkpoint: Path, dest: Path, part_mib: float = 15.0, half: bool = False) -> list[Path]:
    ck = load_checkpoint(checkpoint)
    out = slim(ck) | {"history": run_history(checkpoint, ck)}  # the epochs after the best one were spent too
    if half:  # halves what travels (a resnet18_fer in 2 parts, not 3); unpack restores float32
        out["model_state"] = _cast(out["model_state"], torch.float16)
    dest.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(out, buf)
    data = buf.getvalue()
    size = int(part_mib * 2**20)
    parts = []
    for i in range(0, len(data), size):
        p = dest / f"part{i // size:02d}"
        p.write_bytes(data[i:i + size])
        parts.append(p)
    manifest = {"source": str(checkpoint), "arch": ck.get("arch"), "epoch": ck.get("epoch"), "half": half, "bytes": len(data),
                "sha256": _sha256(data), "parts": [{"name": p.name, "sha256": _sha256(p.read_bytes())} for p in parts]}
    write_text(dest / "manifest.json", json.dumps(manifest, indent=1))
    return parts


def unpack(src: Path, out: Path) -> Path:
    mf = src / "manifest.json"
    if not mf.is_file():
        raise FacemotionError(f"{mf}: no manifest (was this folder written by `device_transfer.py pack`?)")
    manifest = json.loads(mf.read_text())
    chunks = []
    for part in manifest["parts"]:
        p = src / part["name"]
        if not p.is_file():
            raise FacemotionError(f"{p}: missing part ({len(manifest['parts'])} expected)")
        b = p.read_bytes()
        if _sha256(b) != part["sha256"]:
            raise FacemotionError(f"{p}: damaged part (SHA-256 differs from the manifest)")
        chunks.append(b)
    data = b"".join(chunks)
    if len(data) != manifest["bytes"] or _sha256(data) != manifest["sha256"]:
        raise FacemotionError(f"{src}: the joined parts differ from the packed checkpoint")
    if manifest.get("half"):
        ck = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        ck["model_state"] = _cast(ck["model_state"], torch.float32)
        buf = io.BytesIO()
        torch.save(ck, buf)
        data = buf.getvalue()
    write_bytes(out, data)
    load_checkpoint(out)  # must load (weights_only) before we call it done
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack", help="best.pt -> slim checkpoint in parts + manifest.json")
    a.add_argument("checkpoint", type=Path)
    a.add_argument("dest", type=Path, help="a folder under $OUT (one level, so the files come back)")
    a.add_argument("--part-mib", type=float, default=15.0)
    a.add_argument("--half", action="store_true", help="ship the weights as float16 (restored to float32 by unpack)")
    b = sub.add_parser("unpack", help="parts + manifest.json -> checkpoint")
    b.add_argument("src", type=Path)
    b.add_argument("-o", "--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        if args.cmd == "pack":
            parts = pack(args.checkpoint, args.dest, args.part_mib, args.half)
            print(f"{args.dest}: {len(parts)} part(s) + manifest.json")
        else:
            out = unpack(args.src, args.out)
            print(f"{out}: {out.stat().st_size / 2**20:.1f} MiB, checksum ok")
    except FacemotionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
