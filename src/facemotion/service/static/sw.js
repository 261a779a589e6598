// The service worker of a facemotion static site (facemotion web-export fills in the version and
// the file list). It keeps the site's files for offline use (network first, the copy when the
// network fails) and adds the cross-origin isolation headers that WebAssembly threads need, on
// hosts that cannot send them.
"use strict";
const CACHE = "facemotion-__VERSION__";
const PRECACHE = __PRECACHE__;

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("facemotion-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function isolated(response) {
  if (!response || response.status === 0 || response.type === "opaque") return response;
  const headers = new Headers(response.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  headers.set("Cross-Origin-Resource-Policy", "same-origin");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) return;
  e.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(req);
      if (response.ok && response.status === 200) await cache.put(req, response.clone());
      return isolated(response);
    } catch (err) {
      const copy = await cache.match(req, { ignoreSearch: true });
      if (copy) return isolated(copy);
      throw err;
    }
  })());
});
