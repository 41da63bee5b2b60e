// The page's settings (from its URL) and its credential (from the server that serves it).
// Shared by boot.js and main.js on the page, and by session.js, which may run in a worker.

/** What the page's URL asks for. */
export function pageConfig(loc) {
  const params = new URLSearchParams(loc.search);
  const tokenId = params.get("tokenId");
  const tokenSecret = params.get("tokenSecret");
  return {
    params,
    endpoint: params.get("endpoint") || loc.origin,
    // the SDK in a dedicated worker unless `?worker=0`: the page's own code (editor,
    // terminal) then never holds up a sandbox's start or its output
    worker: params.get("worker") !== "0",
    // `?timeout=SECONDS`: the sandbox's lifetime (default 30 minutes)
    timeoutMs: Number(params.get("timeout")) > 0 ? Number(params.get("timeout")) * 1000 : undefined,
    // `?tokenId=&tokenSecret=`: a credential given outright
    credentials: tokenId && tokenSecret ? { tokenId, tokenSecret } : null,
  };
}

/**
 * The page's credential from the server at `endpoint`: a scoped token for this visitor
 * (multi-user mode: renewed from the same URL) or the workspace pair (single user).
 */
export async function fetchCredentials(endpoint) {
  const url = new URL("/__sandboxd/config.json", endpoint).href;
  let resp;
  try {
    resp = await fetch(url, { cache: "no-store", credentials: "same-origin" });
  } catch (e) {
    const err = new Error(`cannot fetch the credential (${(e && e.message) || e})`);
    err.code = "NETWORK";
    throw err;
  }
  if (!resp.ok) {
    const err = new Error(
      `${endpoint} did not hand out a credential (HTTP ${resp.status}); open the playground from sandboxd's own URL, or pass ?tokenId=&tokenSecret=`,
    );
    err.code = resp.status >= 500 ? "NETWORK" : "AUTH";
    throw err;
  }
  const cfg = await resp.json();
  return cfg.token ? { token: cfg.token, tokenUrl: url, app: cfg.app } : cfg;
}

/** `{ sandboxId, execId }` of the shell that was open when the page went away, for a reload. */
export const SHELL_KEY = "playground.shell";
export function savedShell() {
  try {
    return JSON.parse(sessionStorage.getItem(SHELL_KEY) || "null");
  } catch {
    return null;
  }
}
