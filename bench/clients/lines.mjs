// Shared by the Node- and Deno-side clients: answer one JSON command a line on stdin with one JSON
// reply a line on stdout (see bench/run.mjs). `ops` maps op names to async functions.
import { createInterface } from "node:readline";
import process from "node:process";

// Replies own stdout; whatever a library logs goes to stderr.
const reply_out = process.stdout;
console.log = console.info = console.debug = console.error;

export async function serve(ops) {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    if (cmd.op === "quit") break;
    let reply;
    try {
      const fn = ops[cmd.op];
      if (!fn) throw new Error(`unknown op ${cmd.op}`);
      reply = { ok: true, ...(await fn(cmd)) };
    } catch (e) {
      reply = { ok: false, error: String(e && e.stack ? e.stack : e) };
    }
    reply_out.write(JSON.stringify(reply) + "\n");
  }
  if (ops.close) await ops.close();
  process.exit(0);
}
