// gRPC-web over the global `fetch` (pages, workers, service workers, Deno, workerd, Node):
// one POST of binary application/grpc-web+proto. Resolves to [http status, content-type,
// grpc-status, grpc-message, body]; the headers give the status of trailers-only replies.
//
// A large body goes as a Blob: Chromium copies an ArrayBufferView body synchronously on
// the calling thread, a Blob it hands over as it is (a 1 MiB stdin write: 57 -> 6 ms in
// the fetch call, 200 -> 58 ms in all, the Blob's making included).
export async function grpcFetch(url, headers, body, signal) {
  if (body.length >= 65536) body = new Blob([body]);
  const r = await fetch(url, { method: "POST", headers, body, signal, credentials: "same-origin" });
  const h = r.headers;
  const stream = r.body && SMALL_CHUNKS ? readInBulk(r.body) : r.body;
  return [r.status, h.get("content-type"), h.get("grpc-status"), h.get("grpc-message"), stream];
}

// workerd gives a default reader of a fetch body 4 KiB at a time (50 MB of stdout: 12,400
// reads, a quarter of the SDK's time in read()); a BYOB reader gets all that has arrived,
// up to its buffer: 43 -> 66-90 MB/s there. Node and Chromium hand out large chunks already
// and were no faster (Node slower) this way, so only workerd reads in bulk.
const SMALL_CHUNKS = globalThis.navigator?.userAgent === "Cloudflare-Workers";

/** `body` read with a BYOB reader into one 256 KiB buffer, each chunk a copy of its part. */
function readInBulk(body) {
  let reader;
  try {
    reader = body.getReader({ mode: "byob" });
  } catch {
    return body; // not a byte stream
  }
  let buf = new ArrayBuffer(1 << 18);
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await reader.read(new Uint8Array(buf));
      if (done) return controller.close();
      controller.enqueue(value.slice());
      buf = value.buffer;
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
