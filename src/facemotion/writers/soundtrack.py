"""The source clip's sound in the annotated MP4: its first audio stream, cut to the frames the
MP4 holds and moved by the video stream's start, copied where MP4 carries its codec and
otherwise encoded as AAC (FFmpeg's, inside the PyAV wheel)."""

from __future__ import annotations

import heapq
from pathlib import Path

# audio codecs an MP4 carries as they are (copied, not encoded again)
MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


def _seconds(packet) -> float | None:
    """A packet's presentation time, s (its decoding time where it has none)."""
    t = packet.pts if packet.pts is not None else packet.dts
    return None if t is None else float(t * packet.time_base)


def _decoded_at(packet) -> float:
    """When a packet is decoded, s: the order in which an MP4 interleaves its streams."""
    t = packet.dts if packet.dts is not None else packet.pts
    return float((t or 0) * packet.time_base)


def source_audio(source: Path):
    """(the source's first audio stream's codec name, the video stream's start in s), or None
    where the source has no sound or cannot be read by PyAV."""
    import av

    try:
        with av.open(str(source)) as c:
            if not c.streams.audio:
                return None
            video = c.streams.video[0] if c.streams.video else None
            start = float(video.start_time * video.time_base) if video is not None and video.start_time else 0.0
            return c.streams.audio[0].codec_context.codec.canonical_name, start  # mp3, not its decoder mp3float
    except Exception:  # noqa: BLE001 - no sound we can read: the MP4 stays silent
        return None


def _audio_packets(src, stream, start: float, end: float, out_stream, copy: bool):
    """The source's audio packets that start between ``start`` and ``end`` (s, the source's
    clock), moved to the MP4's (``start`` is its zero); copied, or encoded by ``out_stream``."""
    if copy:
        shift = round(start / stream.time_base)
        for p in src.demux(stream):
            t = _seconds(p)
            if t is None or p.pts is None or t < start or t >= end:
                continue
            p.pts, p.dts = p.pts - shift, (p.dts - shift) if p.dts is not None else None
            p.stream = out_stream
            yield p
        return
    for frame in src.decode(stream):
        t = None if frame.pts is None else float(frame.pts * frame.time_base)
        if t is None or t < start or t >= end:
            continue
        frame.pts = round((t - start) / frame.time_base)  # on the MP4's clock, as the copied packets
        yield from out_stream.encode(frame)
    yield from out_stream.encode(None)


def mux_soundtrack(video: Path, source: Path, out: Path, found=None) -> str:
    """Write ``out``: ``video`` (a silent MP4 whose clock starts at the source's first video
    frame) with ``source``'s sound over the same span (``found``: :func:`source_audio`'s answer,
    where the caller has it). Returns what was done ("copied aac", "encoded as aac from
    pcm_s16le")."""
    import av

    found = found or source_audio(source)
    if found is None:
        raise ValueError("the source has no sound PyAV reads")
    codec, start = found
    with av.open(str(video)) as vid, av.open(str(source)) as src, \
            av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as dst:
        v_in, a_in = vid.streams.video[0], src.streams.audio[0]
        end = start + float(v_in.duration * v_in.time_base) if v_in.duration else float("inf")
        v_out = dst.add_stream_from_template(v_in)
        copy = codec in MP4_AUDIO
        if copy:
            a_out, done = dst.add_stream_from_template(a_in), f"copied {codec}"
        else:
            a_out = dst.add_stream("aac", rate=a_in.codec_context.sample_rate or 48000)
            # by the channels' count: a layout without an order (Matroska's PCM: "2 channels") is one
            # AAC's encoder refuses; more than two are mixed down
            a_out.layout = "mono" if a_in.codec_context.layout.nb_channels == 1 else "stereo"
            done = f"encoded as aac from {codec}"

        def video_packets():
            for p in vid.demux(v_in):
                if p.dts is not None:  # the demuxer's closing empty packet
                    p.stream = v_out
                    yield p

        # merge takes each stream's first packet before it hands one out, so an AAC encoder has
        # opened (the header needs its settings) before the first packet writes the header
        for packet in heapq.merge(video_packets(), _audio_packets(src, a_in, start, end, a_out, copy), key=_decoded_at):
            dst.mux(packet)
    return done
