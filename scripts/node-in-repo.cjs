// Preloaded into the test command's Node processes (NODE_OPTIONS, scripts/test.sh): a
// package `require`d from inside the repository is looked for inside it only. For a
// package it does not find, Node tries every node_modules up to / and then
// $HOME/.node_modules and the like; the optional requires in Vite's bundle (ms,
// bufferutil, fsevents) did so on every build, so a package above the clone would have
// changed what the tests run.
const Module = require("node:module");
const path = require("node:path");

const root = path.resolve(__dirname, "..") + path.sep;
const inside = (p) => p.startsWith(root);

const resolveLookupPaths = Module._resolveLookupPaths;
Module._resolveLookupPaths = function (request, parent) {
  const paths = resolveLookupPaths.call(this, request, parent);
  const from = parent && parent.filename;
  return Array.isArray(paths) && from && inside(from) ? paths.filter(inside) : paths;
};
