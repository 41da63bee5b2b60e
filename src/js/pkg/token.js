// mintToken: scoped, expiring tokens for browsers and edge workers, minted by an app's
// backend (Node, Deno, a Worker) with WebCrypto. The format is the one `sandboxd gateway`
// and `sandboxd serve --signing-key` verify (README, "Use with Modal"): a JWT, HS256 with a
// secret of at least 32 bytes or EdDSA with an Ed25519 private key.
import { InvalidError, ModalError } from "./errors.js";

const SCOPES = ["create", "exec", "fs", "read", "terminate", "snapshot", "connect-token"];
const MAX_TTL_SECONDS = 24 * 60 * 60;
// Most scopes or sandbox ids read from one list: an array (or a Proxy) can claim 2^32-1.
const MAX_LIST = 1 << 20;
// A token travels in a request header: servers refuse headers past 8 to 16 KiB.
const MAX_CLAIMS_BYTES = 8 * 1024;
const encoder = new TextEncoder();

function base64url(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function nonEmptyString(v, name) {
  if (typeof v !== "string" || v === "") throw new InvalidError(`mintToken: ${name} must be a non-empty string`);
  return v;
}

async function signer(key) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) throw new InvalidError("mintToken: WebCrypto (crypto.subtle) is not available here");
  if (typeof key === "string" || key instanceof Uint8Array) {
    const raw = typeof key === "string" ? encoder.encode(key) : key;
    if (raw.length < 32) throw new InvalidError("mintToken: an HS256 signingKey must be at least 32 bytes");
    const k = await subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return { alg: "HS256", sign: (data) => subtle.sign("HMAC", k, data) };
  }
  const name = key && key.algorithm && key.algorithm.name;
  if (name === "Ed25519" && key.type === "private") return { alg: "EdDSA", sign: (data) => subtle.sign("Ed25519", key, data) };
  if (name === "HMAC") return { alg: "HS256", sign: (data) => subtle.sign("HMAC", key, data) };
  throw new InvalidError("mintToken: signingKey must be a secret (string or Uint8Array of at least 32 bytes), an HMAC CryptoKey or an Ed25519 private CryptoKey");
}

export async function mintToken(options) {
  try {
    return await mint(options);
  } catch (e) {
    // a getter or Proxy trap of the options that threw, a key WebCrypto refused
    if (e instanceof ModalError) throw e;
    throw new InvalidError(`mintToken: invalid options (${e && e.message})`, { cause: e });
  }
}

async function mint(options) {
  if (!options || typeof options !== "object") throw new InvalidError("mintToken: options must be an object");
  const { signingKey, sub, app, tags = {}, scopes, sandboxes, ttlSeconds = 900, jti } = options;
  const claims = { sub: nonEmptyString(sub, "sub"), app: nonEmptyString(app, "app") };
  if (!tags || typeof tags !== "object" || Array.isArray(tags) || !Object.values(tags).every((v) => typeof v === "string"))
    throw new InvalidError("mintToken: tags must be an object of string values");
  claims.tags = { ...tags };
  if (!Array.isArray(scopes) || scopes.length === 0 || !(scopes.length <= MAX_LIST)) throw new InvalidError(`mintToken: scopes must be a non-empty array of ${SCOPES.join(", ")}`);
  for (const s of scopes) if (!SCOPES.includes(s)) throw new InvalidError(`mintToken: unknown scope '${s}' (known: ${SCOPES.join(", ")})`);
  claims.scopes = [...scopes];
  if (sandboxes !== undefined) {
    if (!Array.isArray(sandboxes) || !(sandboxes.length <= MAX_LIST) || ![...sandboxes].every((s) => typeof s === "string" && s !== ""))
      throw new InvalidError("mintToken: sandboxes must be an array of sandbox ids");
    claims.sandboxes = [...sandboxes];
  }
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS)
    throw new InvalidError(`mintToken: ttlSeconds must be a whole number from 1 to ${MAX_TTL_SECONDS}`);
  const now = Math.floor(Date.now() / 1000);
  claims.iat = now;
  claims.exp = now + ttlSeconds;
  claims.jti = jti === undefined ? globalThis.crypto.randomUUID() : nonEmptyString(jti, "jti");
  const json = encoder.encode(JSON.stringify(claims));
  if (json.length > MAX_CLAIMS_BYTES)
    throw new InvalidError(`mintToken: the claims take ${json.length} bytes, more than ${MAX_CLAIMS_BYTES} (a token must fit in a request header)`);
  const { alg, sign } = await signer(signingKey);
  const head = base64url(encoder.encode(JSON.stringify({ alg, typ: "JWT" })));
  const body = base64url(json);
  const input = `${head}.${body}`;
  const sig = new Uint8Array(await sign(encoder.encode(input)));
  return `${input}.${base64url(sig)}`;
}
