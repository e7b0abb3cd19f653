// The official TypeScript SDK's client auth against `dice-mcp dev`, from the first 401 on.
//
// usage: node ts_sdk_oauth.mjs MCP_URL PAIRING_CODE_FILE
// PAIRING_CODE_FILE holds the pairing code `dev` printed last (xtask rewrites it whenever dev
// prints a new one); it is read when the consent page asks for the code.
//
// What it proves: StreamableHTTPClientTransport with an `authProvider` (an in-memory
// OAuthClientProvider, registering as `client_secret_post`) meets the 401, discovers the
// authorization server (RFC 9728 resource metadata, RFC 8414 metadata), registers (RFC 7591),
// and calls redirectToAuthorization. The script then plays the person's browser: it GETs the
// consent page, posts the form's hidden fields back with the pairing code (redirect: "manual"),
// checks the 302's `state` and `iss` (RFC 9207), and hands the code to
// `transport.finishAuth(code)`, which exchanges it with PKCE S256. A new transport then lists
// and calls the tools. Refresh: this SDK refreshes when a request gets a 401 and it holds a
// refresh token, so the script spoils the stored access token and calls a tool again: the SDK
// must refresh (both tokens rotated, no second consent) and retry.
// Prints `tools: ...`, `rolled: [...]`, `refreshed: yes ...`; on the first thing that is not as
// expected prints `FAIL: ...` and exits 1.
//
// The SDK is resolved from the working directory (target/interop/node), as in
// ts_sdk_client.mjs.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";

const require = createRequire(join(process.cwd(), "noop.js"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { UnauthorizedError } = require("@modelcontextprotocol/sdk/client/auth.js");

// Loopback, as a native app registers it; nothing listens there: the Location is read instead.
const REDIRECT_URI = "http://127.0.0.1:9/callback";
const OPTIONS = { timeout: 20_000 };

class Fail extends Error {}

function check(condition, message) {
  if (!condition) throw new Fail(message);
}

const show = (value) => JSON.stringify(value);

/** The SDK's OAuthClientProvider, in memory; keeps every token set it was given. */
class MemoryProvider {
  constructor() {
    this.saved = [];
    this.authorizationUrls = [];
  }
  get redirectUrl() {
    return REDIRECT_URI;
  }
  get clientMetadata() {
    return {
      client_name: "ts-sdk interop",
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
    };
  }
  state() {
    this.lastState = randomUUID();
    return this.lastState;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(information) {
    this.client = information;
  }
  tokens() {
    return this.currentTokens;
  }
  saveTokens(tokens) {
    this.currentTokens = tokens;
    this.saved.push(tokens);
  }
  redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', "#x27": "'", "#39": "'" };
const unescape = (text) => text.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (_, name) => ENTITIES[name]);

/** The named inputs of the page's first form, and whether it asks for a pairing code. */
function readForm(html) {
  const form = html.match(/<form\b[^>]*>([\s\S]*?)<\/form>/i);
  check(form, `the consent page has no form: ${html.slice(0, 300)}`);
  const fields = {};
  const textInputs = [];
  for (const [input] of form[1].matchAll(/<input\b[^>]*>/gi)) {
    const attrs = Object.fromEntries(
      [...input.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, name, value]) => [name, unescape(value)]),
    );
    if (attrs.type === "hidden" && attrs.name) fields[attrs.name] = attrs.value ?? "";
    if (attrs.type === "text" && attrs.name) textInputs.push(attrs.name);
  }
  return { fields, textInputs };
}

/** The person: opens the consent page, types the pairing code; the code from the 302. */
async function approve(authorizationUrl, codeFile, provider, issuer) {
  const page = await fetch(authorizationUrl, { redirect: "manual" });
  const html = await page.text();
  check(page.status === 200, `consent page: ${page.status} ${html.slice(0, 300)}`);
  const { fields, textInputs } = readForm(html);
  check(isDeepStrictEqual(textInputs, ["pairing_code"]), `the form asks for ${show(textInputs)}`);
  for (const name of ["client_id", "redirect_uri", "state", "code_challenge"]) {
    check(
      fields[name] === authorizationUrl.searchParams.get(name),
      `hidden ${name} is ${show(fields[name])}`,
    );
  }
  const pairingCode = readFileSync(codeFile, "utf8").trim();
  // The form's action is "": it posts back to the page's own URL.
  const answer = await fetch(authorizationUrl, {
    method: "POST",
    body: new URLSearchParams({ ...fields, pairing_code: pairingCode }),
    redirect: "manual",
  });
  check(answer.status === 302, `approval: ${answer.status} ${(await answer.text()).slice(0, 300)}`);
  const location = new URL(answer.headers.get("location"));
  check(location.href.startsWith(`${REDIRECT_URI}?`), `redirected to ${location}`);
  check(location.searchParams.get("state") === provider.lastState, `state in ${location}`);
  check(location.searchParams.get("iss") === issuer, `iss in ${location}, expected ${issuer}`);
  const code = location.searchParams.get("code");
  check(code, `no code in ${location}`);
  console.log("consent: approved with the pairing code, 302 with code, state and iss");
  return code;
}

async function main(argv) {
  const [url, codeFile] = argv;
  check(url && codeFile, "usage: node ts_sdk_oauth.mjs MCP_URL PAIRING_CODE_FILE");
  const provider = new MemoryProvider();

  // No token yet: the SDK discovers, registers and sends the person to the consent page.
  const first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const refused = await new Client({ name: "dice-mcp-interop-ts-oauth", version: "0.1.0" })
    .connect(first, OPTIONS)
    .then(
      () => undefined,
      (error) => error,
    );
  check(refused instanceof UnauthorizedError, `the first connect ended with ${refused}`);
  check(provider.authorizationUrls.length === 1, "the SDK did not redirect to authorization");
  check(provider.client?.client_secret, `registered without a secret: ${show(provider.client)}`);
  check(
    provider.client.token_endpoint_auth_method === "client_secret_post",
    `registered as ${provider.client.token_endpoint_auth_method}`,
  );
  console.log("registered: client_secret_post, with a client_secret");
  const issuer = new URL(url).origin;
  const code = await approve(provider.authorizationUrls[0], codeFile, provider, issuer);
  await first.finishAuth(code);
  check(provider.saved.length === 1, `${provider.saved.length} token sets after finishAuth`);

  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const client = new Client({ name: "dice-mcp-interop-ts-oauth", version: "0.1.0" });
  await client.connect(transport, OPTIONS);
  try {
    const { tools } = await client.listTools(undefined, OPTIONS);
    const names = tools.map((tool) => tool.name).sort();
    console.log(`tools: ${names.join(", ")}`);
    check(isDeepStrictEqual(names, ["roll", "roll_dice"]), `tools are ${show(names)}`);
    let result = await client.callTool({ name: "roll_dice", arguments: { n_dice: 3 } }, undefined, OPTIONS);
    check(!result.isError, `roll_dice failed: ${show(result)}`);
    const rolls = result.structuredContent?.result;
    check(
      Array.isArray(rolls) && rolls.length === 3 && rolls.every((r) => r >= 1 && r <= 6),
      `rolls are ${show(result.structuredContent)}`,
    );
    console.log(`rolled: ${show(rolls)}`);

    // A spoiled access token gets a 401; the SDK refreshes and retries the call.
    const before = provider.currentTokens;
    check(before?.refresh_token, `tokens after consent: ${show(before)}`);
    provider.currentTokens = { ...before, access_token: "spoiled" };
    result = await client.callTool({ name: "roll_dice", arguments: { n_dice: 2 } }, undefined, OPTIONS);
    check(!result.isError, `roll_dice after the refresh failed: ${show(result)}`);
    const after = provider.currentTokens;
    check(provider.saved.length === 2, `${provider.saved.length} token sets were saved, not 2`);
    check(after.access_token !== before.access_token, "the access token did not change");
    check(after.refresh_token && after.refresh_token !== before.refresh_token, "the refresh token was not rotated");
    check(provider.authorizationUrls.length === 1, "the refresh asked for a second consent");
    console.log("refreshed: yes (new access and refresh tokens, no second consent), rolled again");
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
