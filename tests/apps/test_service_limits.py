"""The service under abuse, each case bounded in count and time, against 127.0.0.1 only: a
burst of clients, a body of thousands of parts, a pixel bomb, a JPEG of thousands of scans, a
decode past its time, concurrent large decodes, clients that never finish, malformed headers and
framing (each answered once, in JSON, never echoing the body), an upload over the limit, foreign
pages, pictures of one pixel."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from facemotion.service import Limits
from facemotion.service.limits import OriginGuard

from .conftest import ServerProcess, error_of, request
from conftest import scan_bomb, slow_png


def post(port: int, path: str, body: bytes, headers=None, conn=None):
    """One POST over http.client (kept-alive ``conn`` if given) -> (status, headers, body)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, body, headers or {})
    r = c.getresponse()
    out = r.status, dict(r.getheaders()), r.read()
    if conn is None:
        c.close()
    return out


def exchange(port: int, data: bytes, half_close: bool = False, timeout: float = 15) -> tuple[float, bytes]:
    """Raw bytes sent at once (then our sending side closed, if ``half_close``), the reply read to
    the server's close -> (seconds to the close, the reply)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        t = time.perf_counter()
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return time.perf_counter() - t, reply


def one_answer(reply: bytes) -> tuple[int, str]:
    """The status and JSON error of a reply that holds exactly one response (a JSON body of its
    Content-Length, nothing after it)."""
    head, sep, rest = reply.partition(b"\r\n\r\n")
    assert sep and head.startswith(b"HTTP/1.1 "), reply[:300]
    headers = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
    assert headers[b"content-type"] == b"application/json", head
    length = int(headers[b"content-length"])
    assert len(rest) == length, f"a second answer, or a cut one: {rest[length:][:300]!r}"
    return int(head.split()[1]), json.loads(rest)["error"]


def test_a_burst_of_fifty_clients_is_served_without_resets(media, server):
    img = (media / "justin.jpg").read_bytes()

    def client(_):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            return [post(server.port, "/v1/detect", img, conn=conn)[0] for _ in range(2)]
        finally:
            conn.close()

    with ThreadPoolExecutor(50) as ex:
        codes = [c for cs in ex.map(client, range(50)) for c in cs]  # a reset would raise here
    assert codes == [200] * 100


def test_thousands_of_multipart_parts_cost_nothing(server):
    parts = b"".join(b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(30_000))
    t = time.perf_counter()
    code, _, body = post(server.port, "/v1/detect", parts + b"--b--\r\n",
                         {"Content-Type": "multipart/form-data; boundary=b"})
    assert code == 400 and "more than 8 parts" in error_of(body)
    assert time.perf_counter() - t < 2


def test_a_pixel_bomb_is_refused_from_its_header(server):
    buf = io.BytesIO()
    Image.new("L", (9200, 9200)).save(buf, "PNG", optimize=True)
    bomb = buf.getvalue()
    assert len(bomb) < 120_000  # ~85 MP in ~100 KiB
    before = server.rss_mb()
    t = time.perf_counter()
    code, _, body = post(server.port, "/v1/detect", bomb)
    assert code == 413 and "9200x9200" in error_of(body) and "limit" in error_of(body)
    assert time.perf_counter() - t < 1
    assert server.rss_mb() - before < 30  # decoding it would take ~250 MB, and more to convert


def test_concurrent_large_images_are_decoded_one_at_a_time(server):
    # 20 MP of smooth content (a small JPEG), four at once: the decodes queue, memory stays flat
    y, x = np.mgrid[0:4000, 0:5000]
    big = np.stack([(x // 20) % 256, (y // 20) % 256, ((x + y) // 40) % 256], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "JPEG", quality=70)
    data = buf.getvalue()
    assert len(data) < 4 * 2**20
    peak, done = [server.rss_mb()], threading.Event()

    def sample():
        while not done.is_set():
            peak.append(server.rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        code, _, _ = post(server.port, "/v1/detect", data)
        one = max(peak) - peak[0]
        with ThreadPoolExecutor(4) as ex:
            codes = [r[0] for r in ex.map(lambda _: post(server.port, "/v1/detect", data), range(4))]
    finally:
        done.set()
        sampler.join()
    assert code == 200 and codes == [200] * 4
    # one decode at a time: four at once cost about what one did (the allocator keeps some), not 4x
    assert max(peak) - peak[0] < max(1.6 * one, one + 150), (one, max(peak) - peak[0])


def test_clients_that_never_finish_are_dropped(media, server):
    # one photo first: the compute pools (ONNX Runtime's, OpenCV's) start their threads on first use
    assert post(server.port, "/v1/detect", (media / "justin.jpg").read_bytes())[0] == 200
    threads = server.threads()
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never the rest
        slow.append(s)
    stalled = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    stalled.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100)
    # they hold nothing up meanwhile
    assert post(server.port, "/v1/detect", (media / "justin.jpg").read_bytes())[0] == 200
    t = time.perf_counter()
    for s in slow + [stalled]:  # each answered 408 and closed by the server after the 1 s timeouts
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
        s.close()
        code, error = one_answer(reply)
        assert code == 408 and ("did not all arrive within 1 s" in error if s in slow else "body stalled" in error)
    assert time.perf_counter() - t < 4
    # connections are not threads: 21 held ones would be 21; the request pool may have started a
    # worker or two for the photo posted meanwhile (it keeps idle workers for the next request)
    assert server.threads() <= threads + 4, (threads, server.threads())


def test_malformed_request_gets_a_json_400(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert "malformed HTTP request" in json.loads(body)["error"]
    time.sleep(0.2)
    assert "Traceback" not in "".join(server.stderr)


ECHO = b"ECHO-ME-NOT"
H = b"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
CHUNKED = H + b"Transfer-Encoding: chunked\r\n\r\n"
# requests that once ended without an answer (a stall, a half-close, a chunk size of 2^64) or got
# two (a body without a length read as the next request, its bytes echoed back): (the bytes, whether
# the client then closes its sending side, the one status it must get, words of its message)
FRAMING = {
    "a chunked body that stalls": (CHUNKED + b"10\r\n" + ECHO, False, 408, "body stalled"),
    "a chunk size of 2^64 - 1": (CHUNKED + b"ffffffffffffffff\r\n" + ECHO, False, 400, "a chunk of 18446744073709551"),
    "a short chunk, then a stall": (CHUNKED + b"10\r\n" + ECHO + b"\r\n0\r\n\r\n", False, 408, "body stalled"),
    "a short chunk, then a half-close": (CHUNKED + b"10\r\n" + ECHO + b"\r\n0\r\n\r\n", True, 400, "last (0) chunk"),
    "no final 0 chunk, then a stall": (CHUNKED + b"b\r\n" + ECHO + b"\r\n", False, 408, "body stalled"),
    "no final 0 chunk, then a half-close": (CHUNKED + b"b\r\n" + ECHO + b"\r\n", True, 400, "last (0) chunk"),
    "a malformed chunk size": (CHUNKED + b"zz\r\n" + ECHO + b"\r\n", False, 400, "size line is malformed"),
    "a chunk longer than its size": (CHUNKED + b"3\r\n" + ECHO + b"\r\n0\r\n\r\n", False, 400, "does not end where"),
    "HTTP/1.0 without a length, then a half-close": (b"POST /v1/detect HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
                                                     + ECHO * 300, True, 411, "length required"),
    "HTTP/1.1 without a length": (H + b"\r\n" + ECHO * 270 + b"\r\n\r\n", False, 411, "length required"),
    "HTTP/1.1 without a length, Connection: close": (H + b"Connection: close\r\n\r\n" + ECHO * 270 + b"\r\n\r\n",
                                                     False, 411, "length required"),
    "Content-Length: 10^30": (H + b"Content-Length: 1" + b"0" * 30 + b"\r\n\r\n" + ECHO, False, 400,
                              "Content-Length header is not a length in bytes"),
    "chunked and Content-Length": (H + b"Transfer-Encoding: chunked\r\nContent-Length: 16\r\n\r\nb\r\n" + ECHO
                                   + b"\r\n0\r\n\r\n", False, 400, "both Content-Length and Transfer-Encoding"),
    "a body shorter than its length, then a half-close": (H + b"Content-Length: 5000\r\n\r\n" + ECHO, True, 400,
                                                          "before the whole body arrived"),
    "headers that never end": (H + b"X-Slow: " + ECHO, False, 408, "headers did not all arrive"),
    "a malformed request line": (b"POST /v1/detect " + ECHO + b" nonsense\r\nHost: 127.0.0.1\r\n\r\n", False, 400,
                                 "request line is malformed"),
}


def test_every_request_gets_one_json_answer_that_never_echoes_it(server):
    with ThreadPoolExecutor(len(FRAMING)) as ex:  # the stalls (1 s timeouts) side by side
        replies = dict(zip(FRAMING, ex.map(lambda c: exchange(server.port, c[0], c[1]), FRAMING.values())))
    for case, (took, reply) in replies.items():
        _, _, status, words = FRAMING[case]
        assert ECHO not in reply, (case, reply[:300])
        code, error = one_answer(reply)
        assert code == status and words in error, (case, code, error)
        assert took < 4, (case, took)  # the 1 s timeouts, then a lingering close of at most a second
    time.sleep(0.2)
    assert "Traceback" not in "".join(server.stderr)
    assert request(server.url + "/health")[0] == 200


def test_an_upload_over_the_limit_gets_its_413(server):
    # the client sends all 40 MiB before it reads: it must still get the answer, not a reset
    code, headers, body = post(server.port, "/v1/detect", b"\0" * (40 * 2**20))
    assert code == 413 and "over the 4 MiB limit" in error_of(body)
    # a client that waits for "100 Continue" is answered before it sends anything
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 41943040\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    # a WebSocket frame over the limit closes that stream only
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with pytest.raises(ConnectionClosed) as e:
        with connect(f"ws://127.0.0.1:{server.port}/v1/stream", max_size=None, open_timeout=10) as ws:
            ws.send(b"\0" * (5 * 2**20))
            ws.recv(timeout=10)
    # "message too big", unless the reset of the unread rest of the frame overtook it
    assert e.value.rcvd is None or e.value.rcvd.code == 1009
    assert request(server.url + "/health")[0] == 200


def test_foreign_pages_and_hosts_are_refused(media, server):
    img = (media / "justin.jpg").read_bytes()
    for headers, status in [({"Origin": "http://evil.example"}, 403), ({"Host": "evil.example"}, 403),
                            ({"Host": "rebound.example:8000", "Origin": "http://rebound.example:8000"}, 403),
                            ({"Origin": f"http://localhost:{server.port}"}, 200),
                            ({"Host": f"localhost.:{server.port}"}, 200),  # fully qualified: the same host
                            ({"Host": "localhost."}, 200), ({"Host": "[::1]."}, 400), ({"Host": "localhost.."}, 400),
                            ({"Origin": f"http://127.0.0.1:{server.port}", "Host": f"localhost:{server.port}"}, 200)]:
        code, h, body = post(server.port, "/v1/detect", img, headers)
        assert code == status, (headers, body)
        assert h["content-type"] == "application/json" and "server" not in {k.lower() for k in h}
    assert "127.0.0.1" in server.first_line  # listens on loopback unless told otherwise


def test_allow_origin_opens_the_named_origins_only():
    scope = {b"host": b"192.168.1.5:8000"}
    guard = OriginGuard(None, Limits(allow_origins=["http://192.168.1.5:8000"]), "0.0.0.0")
    assert guard.refusal({**scope, b"origin": b"http://192.168.1.5:8000"}) is None
    assert guard.refusal({**scope, b"origin": b"http://evil.example"}) is not None
    assert guard.refusal({b"host": b"other.example"}) is not None
    assert OriginGuard(None, Limits(allow_origins=["*"])).refusal({b"host": b"x", b"origin": b"http://y"}) is None


def test_an_origin_is_allowed_however_it_is_written():
    """--allow-origin http://MyBox.local:8000/ names the page whose browser sends Origin:
    http://mybox.local:8000 (lower case, no slash), for the guard and the CORS headers alike; a
    sandboxed page's Origin: null is told what it can do, not an option the command refuses."""
    limits = Limits(allow_origins=["http://MyBox.local:8000/"])
    assert limits.allow_origins == ["http://mybox.local:8000"]  # what CORSMiddleware is given
    guard = OriginGuard(None, limits, "0.0.0.0")
    assert guard.refusal({b"host": b"mybox.local:8000", b"origin": b"http://mybox.local:8000"}) is None
    why = guard.refusal({b"host": b"127.0.0.1:8000", b"origin": b"null"})
    assert why.startswith("Origin 'null' (a sandboxed or file:// page)") and "--allow-origin null" not in why


def test_a_picture_no_jpeg_can_hold_gets_a_413_from_annotate(server):
    """A 70,000 x 2 picture is within the pixel limit but wider than a JPEG holds (libjpeg's 65,500): /v1/detect
    reads it, /v1/annotate says why it cannot draw it (not a 500)."""
    buf = io.BytesIO()
    Image.new("L", (70_000, 2), 128).save(buf, "PNG")
    assert post(server.port, "/v1/detect", buf.getvalue())[0] == 200
    code, _, body = post(server.port, "/v1/annotate", buf.getvalue())
    assert code == 413 and error_of(body) == ("request body: a picture of 70000x2 cannot be drawn as a JPEG (at "
                                              "most 65,500 pixels a side); /v1/detect gives its faces")


@pytest.fixture(scope="module")
def small_server():
    s = ServerProcess("--max-pending", "2", "--max-streams", "1", "--max-connections", "6")
    yield s
    s.stop()


def test_beyond_the_queue_requests_get_503_at_once(media, small_server):
    img = (media / "two_people.jpg").read_bytes()
    with ThreadPoolExecutor(8) as ex:
        replies = list(ex.map(lambda _: post(small_server.port, "/v1/detect", img), range(8)))
    codes = sorted(r[0] for r in replies)
    assert set(codes) == {200, 503} and codes.count(200) >= 2, codes
    busy = next(r for r in replies if r[0] == 503)
    assert busy[1]["retry-after"] == "1" and "busy" in error_of(busy[2])


def test_stream_and_connection_caps(small_server):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{small_server.port}/v1/stream"
    with connect(url, open_timeout=10):
        with connect(url, open_timeout=10) as second:
            with pytest.raises(ConnectionClosed) as e:
                second.recv(timeout=10)
    assert e.value.rcvd.code == 1013  # try again later
    idle = [socket.create_connection(("127.0.0.1", small_server.port), timeout=5) for _ in range(6)]
    try:
        code, headers, body = request(small_server.url + "/health")
        assert code == 503 and "too many open connections" in error_of(body)
    finally:
        for s in idle:
            s.close()
    time.sleep(0.2)
    assert request(small_server.url + "/health")[0] == 200


def test_a_jpeg_of_thousands_of_scans_is_refused_and_holds_nothing_up(media, server):
    bomb = scan_bomb()
    assert len(bomb) < 400_000 and bomb.count(b"\xff\xda") > 2000
    normal = (media / "justin.jpg").read_bytes()
    assert post(server.port, "/v1/detect", normal)[0] == 200  # the pools started
    with ThreadPoolExecutor(2) as ex:
        t = time.perf_counter()
        refused = ex.submit(post, server.port, "/v1/detect", bomb)
        time.sleep(0.05)
        answered = ex.submit(post, server.port, "/v1/detect", normal)
        code, _, body = answered.result()
        normal_took = time.perf_counter() - t - 0.05
        bomb_code, _, bomb_body = refused.result()
        bomb_took = time.perf_counter() - t
    assert code == 200 and normal_took < 1, normal_took
    assert bomb_code == 413 and bomb_took < 2, bomb_took
    assert error_of(bomb_body) == ("request body: a JPEG of more than 100 scans, each a pass over the whole picture "
                                   "(encoders write at most a few dozen); refused before decoding")


@pytest.fixture(scope="module")
def whole_server():
    """The picture is the face (--detector none), with the mesh, and decodes allowed 0.1 s."""
    s = ServerProcess("--detector", "none", "--mesh", "--decode-timeout", "0.1")
    yield s
    s.stop()


@pytest.mark.parametrize("size", [(1, 1), (1, 9), (9, 1), (2000, 1)])
def test_pictures_of_one_pixel_across_are_faces_with_detector_none(whole_server, tmp_path, size):
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buf, "PNG")
    code, _, body = post(whole_server.port, "/v1/detect", buf.getvalue())
    assert code == 200, body
    out = json.loads(body)
    face, = out["faces"]
    assert (out["width"], out["height"]) == size and face["box"] == [0, 0, *size]
    assert face["landmarks"] is None and face["pose"] is None  # too small for the mesh: null, never an error
    code, headers, jpeg = post(whole_server.port, "/v1/annotate", buf.getvalue())
    assert code == 200 and headers["content-type"] == "image/jpeg" and jpeg.startswith(b"\xff\xd8")
    assert "Traceback" not in "".join(whole_server.stderr)


def test_a_decode_past_its_time_gets_422_and_frees_the_worker(media, whole_server):
    slow = slow_png()  # 39.6 MP: half a second to decode here, fed to the decoder 64 KiB at a time
    t = time.perf_counter()
    code, _, body = post(whole_server.port, "/v1/detect", slow)
    assert code == 422 and error_of(body) == "request body: decoding took longer than the 0.1 s allowed; stopped"
    assert time.perf_counter() - t < 2
    t = time.perf_counter()
    assert post(whole_server.port, "/v1/detect", (media / "justin.jpg").read_bytes())[0] == 200
    assert time.perf_counter() - t < 1


def test_a_client_gone_before_the_lingering_close_closes_quietly():
    """The answer that ends a connection shuts our sending side; a client already gone makes
    that fail (ENOTCONN, seen under hundreds of half-sent requests): the connection is closed,
    with no traceback in the server's log."""
    import errno
    from types import SimpleNamespace

    from facemotion.service.server import GuardedH11Protocol

    class GoneTransport:
        closed = False

        def is_closing(self):
            return self.closed

        def can_write_eof(self):
            return True

        def write_eof(self):
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

        def close(self):
            self.closed = True

    conn = SimpleNamespace(transport=GoneTransport(), _lingering=None)
    GuardedH11Protocol.linger(conn)
    assert conn.transport.closed and conn._lingering is None
