// mintToken (the package's one plain-JS export) against random options, from the
// generator of the wasm bad-input suite (tests/wasm/bad_input.js): it resolves to a JWT or
// rejects with a typed error, whatever getters, Proxies or keys it is handed. Node.
import { mintToken } from "modal-wasm";
import { Gen, typed } from "../wasm/bad_input.js";

const seed = Number(process.env.FUZZ_SEED || Math.floor(Math.random() * 2 ** 32)) >>> 0;
const KEYS = ["signingKey", "sub", "app", "tags", "scopes", "sandboxes", "ttlSeconds", "jti"];
const gen = new Gen(seed, KEYS, []);
const valid = () => ({ signingKey: "k".repeat(32), sub: "user", app: "app", scopes: ["exec"] });
const failures = new Map();
let calls = 0;
let minted = 0;
for (let i = 0; i < 3000; i++) {
  let options;
  let label;
  const r = gen.r();
  if (r < 0.6) {
    // a valid request with one or two fields made hostile
    options = valid();
    const parts = [];
    for (let k = 1 + gen.int(2); k > 0; k--) {
      const key = gen.pick(KEYS);
      const [l, v] = gen.any();
      options[key] = v;
      parts.push(`${key}: ${l}`);
    }
    label = `valid + {${parts.join(", ")}}`;
  } else {
    [label, options] = r < 0.8 ? gen.options() : gen.any();
  }
  calls++;
  if (process.env.FUZZ_VERBOSE) console.log(`#${calls} ${label}`);
  let timer;
  try {
    const t = await Promise.race([
      mintToken(options),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("never settled")), 5000))),
    ]);
    if (typeof t !== "string" || t.split(".").length !== 3) throw new Error(`resolved to ${typeof t}`);
    minted++;
  } catch (e) {
    if (!typed(e)) {
      const key = `${e && e.constructor && e.constructor.name}: ${String(e && e.message).slice(0, 120)}`;
      if (!failures.has(key)) failures.set(key, label);
    }
  } finally {
    clearTimeout(timer);
  }
}
if (failures.size) {
  console.log([...failures].map(([k, l]) => `- ${k}\n    input: ${l}`).join("\n"));
  throw new Error(`mintToken: ${failures.size} kinds of untyped failure in ${calls} calls (seed ${seed})`);
}
console.log(`mintToken: ${calls} calls with random options, ${minted} minted, every failure typed (seed ${seed})`);
