/* Service worker of the mobile group's page (/group): keeps the page's shell so it opens on a bad
 * connection. The page is fetched from the network first (a fresh session and language), from the
 * cache when there is none; static files from the cache, refreshed behind it. The API is never
 * cached: dispatches come from the page's own copy, and steps wait in its queue. */
"use strict";

var CACHE = "sealwatch-group-v1";
var SHELL = [
    "/group",
    "/static/sw.js",
    "/static/sw.css",
    "/static/screens.css",
    "/static/group.js",
    "/static/icons/group-192.png",
    "/group/manifest.webmanifest"
];

self.addEventListener("install", function (event) {
    event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); }).then(function () {
        return self.skipWaiting();
    }));
});

self.addEventListener("activate", function (event) {
    event.waitUntil(caches.keys().then(function (keys) {
        return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
    var req = event.request;
    var url = new URL(req.url);
    if (req.method !== "GET" || url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) {
        return;  // the network, untouched
    }
    if (req.mode === "navigate" || url.pathname === "/group") {
        event.respondWith(fetch(req).then(function (resp) {
            if (resp.ok && !resp.redirected) {
                var copy = resp.clone();
                caches.open(CACHE).then(function (cache) { cache.put("/group", copy); });
            }
            return resp;
        }, function () {
            return caches.match("/group");
        }));
        return;
    }
    if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/group/manifest.webmanifest") {
        // The cached copy at once, refreshed in the background: a new release reaches the phone on
        // the next opening without a version bump here.
        event.respondWith(caches.open(CACHE).then(function (cache) {
            return cache.match(req).then(function (hit) {
                var fresh = fetch(req).then(function (resp) {
                    if (resp.ok) { cache.put(req, resp.clone()); }
                    return resp;
                });
                if (hit) {
                    fresh.catch(function () { /* offline: the cached copy stands */ });
                    return hit;
                }
                return fresh;
            });
        }));
    }
});
