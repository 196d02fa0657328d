// Pantau field app's service worker: the app opens without a network (a scanner officer in a
// field with no signal). Hashed assets are cached forever once fetched; the page is fetched
// fresh when possible and from the cache otherwise. gRPC-Web calls are never cached.
const CACHE = "pantau-app-v1";
const SHELL = ["/app/", "/app/manifest.webmanifest", "/app/icon.svg", "/app/icon-192.png"];

// The page and everything it loads (vite's hashed scripts and styles, named in the page) are
// cached at install: the first visit's own requests went past the worker, which did not yet
// hold the page, and a browser's HTTP cache is no promise of working offline.
async function install() {
  const c = await caches.open(CACHE);
  await c.addAll(SHELL);
  const page = await (await c.match("/app/")).text();
  const assets = [...page.matchAll(/(?:src|href)="(\/app\/assets\/[^"]+)"/g)].map((m) => m[1]);
  await c.addAll([...new Set(assets)]);
}

self.addEventListener("install", (e) => {
  e.waitUntil(install().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/app/rpc/") || url.pathname.startsWith("/api/")) return;
  if (url.pathname.startsWith("/app/assets/")) {
    e.respondWith(
      caches.open(CACHE).then(async (c) => {
        const hit = await c.match(e.request);
        if (hit) return hit;
        const res = await fetch(e.request);
        if (res.ok) c.put(e.request, res.clone());
        return res;
      }),
    );
    return;
  }
  if (!url.pathname.startsWith("/app/")) return;
  // The page and the other files: the network first, the cache when offline.
  const page = e.request.mode === "navigate";
  e.respondWith(
    fetch(e.request)
      .then((res) => {
        if (res.ok) caches.open(CACHE).then((c) => c.put(page ? "/app/" : e.request, res.clone()));
        return res;
      })
      .catch(async () => (await caches.match(page ? "/app/" : e.request)) ?? Response.error()),
  );
});
