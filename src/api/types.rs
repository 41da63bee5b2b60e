//! Shared TypeScript declarations (one custom section) for values that are plain JS objects
//! or decorated web streams rather than Rust classes.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_SHARED: &str = r#"
/** A `ReadableStream` with helpers to read it whole. */
export interface ModalReadStream<R extends string | Uint8Array = string | Uint8Array> extends ReadableStream<R> {
  /** Reads the entire stream as a string. */
  readText(): Promise<string>;
  /** Reads the entire stream as bytes. */
  readBytes(): Promise<Uint8Array>;
}
/** A `WritableStream` with helpers; closing it sends EOF. */
export interface ModalWriteStream<W extends string | Uint8Array = string | Uint8Array> extends WritableStream<W> {
  /** Writes a string (UTF-8 encoded). */
  writeText(text: string): Promise<void>;
  /** Writes bytes. */
  writeBytes(bytes: Uint8Array): Promise<void>;
}
/** A port forwarded from within a running sandbox (Modal JS's `Tunnel`). */
export declare class Tunnel {
  host: string;
  port: number;
  unencryptedHost?: string | undefined;
  unencryptedPort?: number | undefined;
  constructor(host: string, port: number, unencryptedHost?: string | undefined, unencryptedPort?: number | undefined);
  /** `https://host[:port]` (`http://` for a loopback host, as a local sandboxd serves). */
  get url(): string;
  /** `[host, port]` of the TLS endpoint. */
  get tlsSocket(): [string, number];
  /** `[host, port]` of the plain TCP endpoint; throws `InvalidError` when there is none. */
  get tcpSocket(): [string, number];
}
/** Options of `client.secrets.delete()`, as Modal JS names them. */
export type SecretDeleteParams = DeleteParams;
/** Options of `client.volumes.delete()`, as Modal JS names them. */
export type VolumeDeleteParams = DeleteParams;
/** Options of `client.volumes.ephemeral()`. */
export type VolumeEphemeralParams = SecretFromObjectParams;
/** Options of `client.images.delete()`: none but the abort signal. */
export type ImageDeleteParams = CallOptions;
/** Credentials from `Sandbox.createConnectToken()`. */
export interface SandboxCreateConnectCredentials {
  url: string;
  token: string;
}
export interface Sandbox {
  /** `await using sb = ...` terminates the sandbox at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}
"#;
