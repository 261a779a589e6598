"""What the commands print about their results: a line a picture, a few lines a video. A crowd
is counted rather than listed face by face (every face is in the JSON, CSV and summary)."""

from __future__ import annotations

from collections import Counter

from ..names import count, shown

MANY = 6  # more faces than this in a picture: each emotion's count, not a list of faces
LISTED = 10  # a video's faces listed, those seen longest


def _counted(faces: list[dict], key: str) -> str:
    """"happy 18, neutral 9, sad 3": how many of ``faces`` show each ``key`` emotion, most first."""
    return ", ".join(f"{e} {n}" for e, n in Counter(f[key] for f in faces).most_common())


def faces_line(name: str, faces: list[dict]) -> str:
    """A picture's faces: each one's top emotion (a crowd's counts)."""
    if not faces:
        return f"{name}: no faces found"
    if len(faces) > MANY:
        return f"{name}: {len(faces)} faces: {_counted(faces, 'dominant_emotion')}"
    parts = [f"{f['dominant_emotion']} ({f['emotions'][f['dominant_emotion']] * 100:.0f}%)" for f in faces]
    return f"{name}: {len(faces)} face{'s' if len(faces) != 1 else ''}: {', '.join(parts)}"


def explained_line(name: str, faces: list[dict]) -> str:
    """A picture's explained faces: where each one's evidence lies (a crowd's counts)."""
    if not faces:
        return f"{name}: no faces found"
    if len(faces) > MANY:
        return f"{name}: {len(faces)} faces: {_counted(faces, 'target')} (each face's regions: the JSON)"
    return f"{name}: " + "; ".join(f"{f['target']} ({f['emotions'][f['target']] * 100:.0f}%): "
                                   + ", ".join(f"{g['region']} {g['share'] * 100:.0f}%" for g in f["regions"][:3])
                                   for f in faces)


def video_lines(s: dict) -> list[str]:
    """A video's summary: the run, its faces (the LISTED seen longest) and what it wrote."""
    cut = f", the first {s['max_frames']}: --max-frames" if s.get("max_frames") else ""
    if s.get("turned"):  # a sideways or upside-down file without rotation metadata (facemotion.video.upright)
        stood = "upside down" if s["turned"] == 180 else "on their side"
        cut += f", read turned {s['turned']}° clockwise: its faces stood {stood}"
    if s.get("detect_size_chosen") and s.get("detect_size_from_s"):  # faces that came later (video.scale)
        cut += f", searched at {s['detect_size']} px from {s['detect_size_from_s']:.1f} s on: faces too small " \
            "for 400 appeared then"
    elif s.get("detect_size_chosen"):  # a large clip's small faces (facemotion.video.scale)
        cut += f", searched at {s['detect_size']} px: its first frames showed faces too small for 400"
    lines = [f"{shown(s['source'])}: {count(s['frames'], 'frame')} ({s['status']}{cut}), "
             f"{count(len(s['faces']), 'face id')}, "
             f"{s['processing_fps']} fps with {s['detector']}, "
             + (f"1 frame in {s['frame_step']} analysed" if s.get("frame_step", 1) > 1 else f"every {s['every']}")]
    ranked = sorted(s["faces"], key=lambda fid: -s["faces"][fid]["seconds_seen"])
    for fid in sorted(ranked[:LISTED], key=int):
        f = s["faces"][fid]
        # "mostly": the emotion it showed longest, with that share (the summary's dominant_emotion
        # is the highest mean probability, which a few confident frames can tip another way)
        top = max(f["time_share"], key=f["time_share"].get)
        mean = f"; {f['dominant_emotion']} on average" if f.get("dominant_emotion", top) != top else ""
        lines.append(f"  face {fid}: {count(f['frames_seen'], 'frame')}, mostly {top} "
                     f"({f['time_share'][top] * 100:.0f}% of its time{mean})")
    if len(ranked) > LISTED:
        rest = len(ranked) - LISTED
        # "seen less" only where each of them was: faces tied with the last listed are not
        seen = s["faces"][ranked[LISTED]]["seconds_seen"] < s["faces"][ranked[LISTED - 1]]["seconds_seen"]
        lines.append(f"  ... {rest} more{', seen less' if seen else ''} (every face: the summary and the CSV)")
    outs, sound = [s["outputs"].get("video"), s["outputs"]["csv"], s["outputs"]["summary"]], s["outputs"].get("video_sound")
    figures = len(s["outputs"].get("timelines") or ()) + bool(s["outputs"].get("overview"))
    lines.append("wrote " + ", ".join(shown(o) for o in outs if o) + (f" and {figures} figure{'s' * (figures > 1)}"
                                                                       if figures else "")
                 + (f" (the MP4's sound: {sound})" if sound else ""))
    return lines
