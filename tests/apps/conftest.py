"""A real ``facemotion serve`` process on 127.0.0.1 (a free port), as a user starts it.

Every request of these tests goes to 127.0.0.1 only, in bounded numbers, and each server
stops with its fixture."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi", reason="the service needs the [serve] extra")


class ServerProcess:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "facemotion", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        self.stderr: list[str] = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()
        try:
            self.first_line = lines.get(timeout=60)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"the server did not start: {''.join(self.stderr)[-2000:]}") from None
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", self.first_line)
        assert m, self.first_line
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        return _status_field(self.proc.pid, "VmRSS") / 1024

    def threads(self) -> int:
        return _status_field(self.proc.pid, "Threads")

    def stop(self) -> None:
        end(self.proc)


def end(proc: subprocess.Popen) -> None:
    """Stop a process this test started, by its handle."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _status_field(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


@pytest.fixture(scope="session")
def server():
    """A server with short timeouts and a 4 MiB body limit, shared by the service tests."""
    s = ServerProcess("--header-timeout", "1", "--read-timeout", "1", "--max-body", "4")
    yield s
    s.stop()


def request(url, data=None, headers=None, method=None, timeout=30):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def error_of(body: bytes) -> str:
    return json.loads(body)["error"]


def chromium_path() -> str | None:
    import shutil

    return os.environ.get("FACEMOTION_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """Headless Chromium driven over its DevTools protocol (a WebSocket on 127.0.0.1).

    Every host name but localhost resolves to nothing and every other connection goes to a
    dead local proxy, so the browser reaches only this machine."""

    def __init__(self, *flags: str, profile: str, gpu: bool = False):
        """``gpu=True``: WebGPU on SwiftShader (a software adapter) instead of no GPU at all."""
        from websockets.sync.client import connect

        gpu_flags = (["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-angle=swiftshader",
                      "--use-webgpu-adapter=swiftshader"] if gpu else ["--disable-gpu"])
        self.proc = subprocess.Popen(
            [chromium_path(), "--headless=new", "--no-sandbox", *gpu_flags, "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--disable-default-apps", "--no-pings", "--mute-audio",
             "--disable-domain-reliability", "--disable-client-side-phishing-detection",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
             "--proxy-server=http://127.0.0.1:9",  # loopback itself is never proxied
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1280,900", *flags, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on (ws://127\.0\.0\.1:\d+/\S+)", line)
            url = m and m.group(1)
        if url is None:
            self.close()
            raise RuntimeError("Chromium did not start its DevTools endpoint")
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()  # keep it drained
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(url, max_size=None, open_timeout=10))
        self._id = 0
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def call(self, method: str, params: dict | None = None, session: bool = True, timeout: float = 20):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"not true after {timeout} s: {expression}")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && !!window.facemotionPage")

    def screenshot(self, path) -> None:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))

    def close(self) -> None:
        try:
            if getattr(self, "_stack", None) is not None:
                self._stack.close()
        finally:
            end(self.proc)


def write_y4m(video, path, frames: int = 40) -> None:
    """The first ``frames`` frames of ``video``, forwards then backwards, as a Y4M file (the
    format of Chromium's fake camera, which loops it): the loop has no jump, which the tracker
    would rightly take for a new shot."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = round(cap.get(cv2.CAP_PROP_FPS) or 25)
    clip = []
    while len(clip) < frames:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        clip.append(cv2.cvtColor(frame[:h - h % 2, :w - w % 2], cv2.COLOR_BGR2YUV_I420))  # 4:2:0: even sides
    cap.release()
    h, w = clip[0].shape[0] * 2 // 3, clip[0].shape[1]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for yuv in clip + clip[-2:0:-1]:
            f.write(b"FRAME\n" + yuv.tobytes())


def open_page(browser, url: str, until: str = "window.facemotionPage && window.facemotionPage.ready", timeout: float = 90):
    """Navigate and wait for ``until``; the first visit of a static site reloads once (its
    service worker then makes it cross-origin isolated), so evaluations may meet a page going away."""
    browser.call("Page.navigate", {"url": url})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = browser.evaluate(until)
        except RuntimeError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not true after {timeout} s at {url}: {until}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium whose fake camera plays the start of test.mp4 (forwards and back), for
    the page's tests in both the served page and the static export; one per test module."""
    if chromium_path() is None:
        pytest.skip("Chromium is not installed (bash scripts/install_chromium.sh installs it)")
    from conftest import MEDIA

    if not (MEDIA / "test.mp4").is_file():
        pytest.skip(f"real test media not found at {MEDIA} (set FACEMOTION_SHARED to the shared/ folder)")
    tmp = tmp_path_factory.mktemp("chromium")
    clip = tmp / "clip.y4m"
    write_y4m(MEDIA / "test.mp4", clip)
    b = Chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={clip}", profile=str(tmp / "profile"))
    yield b
    b.close()
