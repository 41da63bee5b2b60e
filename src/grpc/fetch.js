// gRPC-web over the global `fetch` (pages, workers, service workers, Deno, workerd, Node):
// one POST of binary application/grpc-web+proto. Resolves to [http status, content-type,
// grpc-status, grpc-message, body]; the headers give the status of trailers-only replies.
export async function grpcFetch(url, headers, body, signal) {
  const r = await fetch(url, { method: "POST", headers, body, signal, credentials: "same-origin" });
  const h = r.headers;
  return [r.status, h.get("content-type"), h.get("grpc-status"), h.get("grpc-message"), r.body];
}
