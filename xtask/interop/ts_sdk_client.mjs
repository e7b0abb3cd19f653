// Drive dice-mcp with the official TypeScript MCP SDK: list, call roll_dice and roll, bad input.
//
// usage: node ts_sdk_client.mjs URL TRANSPORT [TOKEN]
// TRANSPORT is `streamable` (StreamableHTTPClientTransport, URL like http://127.0.0.1:PORT/mcp)
// or `sse` (the legacy SSEClientTransport, URL like http://127.0.0.1:PORT/sse). With TOKEN,
// every request (the SSE stream's GET and the POSTs to /messages/ included) carries
// `Authorization: Bearer TOKEN`.
// Prints one `ok: ...` line on success; on the first thing that is not as expected prints
// `FAIL: ...` and exits 1.
//
// The SDK (@modelcontextprotocol/sdk, pinned in package.json beside this file) is found the
// usual way when this file sits next to the node_modules it was installed into; otherwise it is
// resolved from the current working directory, so `cd target/interop/node && node
// /path/to/xtask/interop/ts_sdk_client.mjs ...` works too.

import { createRequire } from "node:module";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";

async function loadSdk() {
  try {
    return {
      ...(await import("@modelcontextprotocol/sdk/client/index.js")),
      ...(await import("@modelcontextprotocol/sdk/client/sse.js")),
      ...(await import("@modelcontextprotocol/sdk/client/streamableHttp.js")),
    };
  } catch (error) {
    if (error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
  }
  // Not beside node_modules: load the SDK's CommonJS build from the working directory.
  const require = createRequire(join(process.cwd(), "noop.js"));
  return {
    ...require("@modelcontextprotocol/sdk/client/index.js"),
    ...require("@modelcontextprotocol/sdk/client/sse.js"),
    ...require("@modelcontextprotocol/sdk/client/streamableHttp.js"),
  };
}

const EXPECTED_DESCRIPTION = "Roll `n_dice` 6-sided dice and return the results.";
const EXPECTED_SCHEMA = {
  type: "object",
  properties: { n_dice: { type: "integer" } },
  required: ["n_dice"],
};

class Fail extends Error {}

function check(condition, message) {
  if (!condition) throw new Fail(message);
}

const show = (value) => JSON.stringify(value);

async function main(argv) {
  const [url, transportName, token] = argv;
  if (!url || !["streamable", "sse"].includes(transportName)) {
    throw new Fail("usage: node ts_sdk_client.mjs URL streamable|sse [TOKEN]");
  }
  const { Client, SSEClientTransport, StreamableHTTPClientTransport } = await loadSdk();
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const target = new URL(url);
  // requestInit headers go on every POST and, in this SDK, on the SSE stream's GET too.
  const transport =
    transportName === "sse"
      ? new SSEClientTransport(target, { requestInit: { headers } })
      : new StreamableHTTPClientTransport(target, { requestInit: { headers } });

  const client = new Client({ name: "dice-mcp-interop-ts", version: "0.1.0" });
  // A hung server must not hang the xtask: every request gets a timeout.
  const options = { timeout: 20_000 };
  await client.connect(transport, options);
  try {
    const server = client.getServerVersion();
    check(server && typeof server.name === "string", `no serverInfo: ${show(server)}`);

    const { tools } = await client.listTools(undefined, options);
    const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]));
    const names = Object.keys(byName).sort();
    check(isDeepStrictEqual(names, ["roll", "roll_dice"]), `tools are ${show(names)}`);
    const rollDice = byName.roll_dice;
    check(
      rollDice.description === EXPECTED_DESCRIPTION,
      `roll_dice description is ${show(rollDice.description)}`,
    );
    check(
      isDeepStrictEqual(rollDice.inputSchema, EXPECTED_SCHEMA),
      `roll_dice inputSchema is ${show(rollDice.inputSchema)}`,
    );

    let result = await client.callTool({ name: "roll_dice", arguments: { n_dice: 5 } }, undefined, options);
    check(!result.isError, `roll_dice {n_dice: 5} failed: ${show(result)}`);
    const rolls = result.structuredContent?.result;
    check(
      Array.isArray(rolls) &&
        rolls.length === 5 &&
        rolls.every((r) => Number.isInteger(r) && r >= 1 && r <= 6),
      `roll_dice {n_dice: 5} structuredContent is ${show(result.structuredContent)}`,
    );
    const text = result.content?.[0]?.type === "text" ? result.content[0].text : undefined;
    check(
      text !== undefined && isDeepStrictEqual(JSON.parse(text), rolls),
      `roll_dice text content ${show(result.content)} does not match ${show(rolls)}`,
    );

    result = await client.callTool({ name: "roll", arguments: { expression: "4d6kh3+2" } }, undefined, options);
    check(!result.isError, `roll {expression: "4d6kh3+2"} failed: ${show(result)}`);
    const total = result.structuredContent?.total;
    check(
      Number.isInteger(total) && total >= 5 && total <= 20,
      `roll 4d6kh3+2 structuredContent is ${show(result.structuredContent)}`,
    );

    result = await client.callTool({ name: "roll_dice", arguments: { n_dice: 0 } }, undefined, options);
    check(result.isError === true, `roll_dice {n_dice: 0} was not an error: ${show(result)}`);

    // A stateful Streamable HTTP session is ended the way the SDK ends it: DELETE with its id.
    let session = transportName === "sse" ? "legacy SSE" : "stateless";
    if (transportName === "streamable" && transport.sessionId) {
      await transport.terminateSession();
      check(transport.sessionId === undefined, "the session was not ended");
      session = "stateful, session ended";
    }

    const auth = token ? "with a token" : "without auth";
    console.log(
      `ok: TypeScript MCP SDK, ${url}, ${transportName} (${session}), ${auth}: ` +
        `listed, rolled ${show(rolls)}, 4d6kh3+2 = ${total}`,
    );
  } finally {
    await client.close();
  }
}

try {
  await main(process.argv.slice(2));
  process.exit(0);
} catch (error) {
  const message = error instanceof Fail ? error.message : `${error?.name ?? "Error"}: ${error?.message ?? error}`;
  console.log(`FAIL: ${message}`);
  process.exit(1);
}
