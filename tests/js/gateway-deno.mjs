// Deno through the gateway: the package's "deno" entry, a scoped token from the environment.
import * as modal from "modal-wasm";
import { gatewayFlow } from "./gateway-flow.mjs";

const env = Deno.env.toObject();
console.log(
  await gatewayFlow(modal, {
    gateways: [env.GATEWAY_0, env.GATEWAY_1],
    tokenA: env.TOKEN_A,
    tokenB: env.TOKEN_B,
    runtime: "deno",
  }),
);
