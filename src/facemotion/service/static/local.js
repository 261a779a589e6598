// The page's side of in-browser inference: reads web/config.json and runs engine.js in a worker
// (the models never block the page). app.js uses it when the page has it, else the server.
"use strict";

window.FacemotionLocal = (() => {
  const WEB = new URL("web/", document.baseURI);
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

  // mesh: each face's landmarks, pose and measures too (null: the config's default)
  async function load(cfg, { model = null, detector = null, ep = null, threads = null, mesh = null } = {}) {
    const worker = new Worker(new URL("static/engine.js", document.baseURI));
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
    const info = await call({ type: "init", base: WEB.href, config: cfg, model, detector, ep, threads, mesh });
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

  return { WEB, config, load, pixels };
})();
