// A stand-in for the global `fetch` that answers every call with one gRPC-web reply whose
// body arrives in the given chunks, each in its own task (so they cannot be merged), as a
// network splits a reply. Returns a function that puts the real `fetch` back.
export function replyInChunks(chunks) {
  const real = globalThis.fetch;
  globalThis.fetch = async () => {
    let i = 0;
    const body = new ReadableStream({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (i < chunks.length) controller.enqueue(chunks[i++]);
        else controller.close();
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "application/grpc-web+proto" } });
  };
  return () => {
    globalThis.fetch = real;
  };
}
