/** What a scoped token allows (see the README's "Use with Modal"). */
export type TokenScope = "create" | "exec" | "fs" | "read" | "terminate" | "snapshot" | "connect-token";

/** Options of `mintToken`. */
export interface MintTokenOptions {
  /**
   * The key shared with the gateway (`--signing-key`): an HS256 secret of at least 32
   * bytes (a string or bytes, or an HMAC `CryptoKey`), or an Ed25519 private `CryptoKey`
   * (EdDSA; the gateway then holds only the public key).
   */
  signingKey: string | Uint8Array | CryptoKey;
  /** Who the token is for (your user id); per-subject limits apply to it. */
  sub: string;
  /** The Modal app every sandbox of the token lives in. */
  app: string;
  /** Forced onto every sandbox the token creates; required on every sandbox it touches. */
  tags?: Record<string, string>;
  /** What the token may do. */
  scopes: TokenScope[];
  /** Only these sandboxes (ids), whatever their tags. */
  sandboxes?: string[];
  /** Lifetime in seconds, 1 to 86400 (default 900). */
  ttlSeconds?: number;
  /** Token id (default: a random UUID), for revocation. */
  jti?: string;
}

/**
 * Mints a scoped, expiring token for a browser or an edge worker, on your backend (Node,
 * Deno, a Worker), with WebCrypto. Never mint tokens in the browser itself.
 *
 * ```ts
 * const token = await mintToken({ signingKey: env.SIGNING_KEY, sub: user.id, app: "playground",
 *   tags: { user: user.id }, scopes: ["create", "exec", "fs", "read", "terminate"], ttlSeconds: 900 });
 * ```
 */
export declare function mintToken(options: MintTokenOptions): Promise<string>;
