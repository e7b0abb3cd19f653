// A real browser on `dice-mcp dev`'s consent page: headless Chromium (Debian's, /usr/bin/chromium)
// driven by playwright-core.
//
// usage: node consent_browser.mjs MCP_URL PAIRING_CODE_FILE [CHROMIUM]
// CHROMIUM is the browser's executable (default /usr/bin/chromium). PAIRING_CODE_FILE holds
// the pairing code `dev` printed last (xtask rewrites it whenever dev prints a new one); it is
// read each time the code is typed.
//
// What it proves: the page a person sees works in a browser engine, with its CSP, its
// `form action=""` posting back to /authorize and its 302 to a loopback redirect, as a native
// client receives it (RFC 8252 §7.3). The script finds the authorization server from the 401
// (RFC 9728, RFC 8414), registers a public client (`none`) whose redirect URI is a small HTTP
// server of its own on 127.0.0.1, opens the authorization URL in Chromium and:
// - types a wrong code and clicks Approve: the same form comes back with an error, and nothing
//   reaches the redirect URI;
// - types the right code (in lower case) and clicks Approve: the browser lands on the loopback
//   server, which records `code`, `state` and `iss`; the state is the one sent.
// Then it exchanges the code at /token (PKCE S256) and lists the tools with the access token.
// Prints `wrong code: ...`, `approved: ...`, `tools: ...`; on the first thing that is not as
// expected prints `FAIL: ...` and exits 1.
//
// playwright-core is resolved from the working directory (target/interop/node); it downloads no
// browser: Debian's is launched through executablePath.

import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "noop.js"));
const { chromium } = require("playwright-core");

const ACCEPT_BOTH = "application/json, text/event-stream";

class Fail extends Error {}

function check(condition, message) {
  if (!condition) throw new Fail(message);
}

const show = (value) => JSON.stringify(value);
const base64url = (bytes) => Buffer.from(bytes).toString("base64url");

/** The JSON-RPC message of an MCP answer, sent as JSON or as one SSE event. */
async function rpcResult(response) {
  const text = await response.text();
  if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    return JSON.parse(text);
  }
  const data = text
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).trim())
    .find((line) => line.startsWith("{"));
  check(data, `no message in the event stream: ${text.slice(0, 300)}`);
  return JSON.parse(data);
}

/** The authorization server's metadata, found from the MCP endpoint's 401. */
async function discover(mcpUrl) {
  const refused = await fetch(mcpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: ACCEPT_BOTH },
    body: show({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  check(refused.status === 401, `no token: ${refused.status}`);
  const challenge = refused.headers.get("www-authenticate") ?? "";
  const metadataUrl = challenge.match(/resource_metadata="([^"]+)"/)?.[1];
  check(metadataUrl, `no resource_metadata in ${show(challenge)}`);
  const resource = await (await fetch(metadataUrl)).json();
  const issuer = resource.authorization_servers?.[0];
  check(issuer, `no authorization server in ${show(resource)}`);
  const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  check(metadata.issuer === issuer, `metadata issuer ${metadata.issuer}, expected ${issuer}`);
  return metadata;
}

/** An HTTP server on 127.0.0.1:0 that records the query of every request it gets. */
async function loopbackRedirect() {
  const received = [];
  let notify = () => {};
  const server = createServer((request, response) => {
    const url = new URL(request.url, "http://127.0.0.1");
    received.push(url);
    notify();
    response.writeHead(200, { "content-type": "text/html" });
    response.end("<!doctype html><title>Connected</title><p>You can close this page.</p>");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const uri = `http://127.0.0.1:${server.address().port}/callback`;
  const next = (ms) =>
    received.length > 0
      ? Promise.resolve(received[0])
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Fail(`nothing reached ${uri} in ${ms} ms`)), ms);
          notify = () => {
            clearTimeout(timer);
            resolve(received[0]);
          };
        });
  return { uri, received, next, close: () => server.close() };
}

async function main(argv) {
  const [mcpUrl, codeFile, chromiumPath = "/usr/bin/chromium"] = argv;
  check(mcpUrl && codeFile, "usage: node consent_browser.mjs MCP_URL PAIRING_CODE_FILE [CHROMIUM]");
  const metadata = await discover(mcpUrl);
  const redirect = await loopbackRedirect();
  const registered = await fetch(metadata.registration_endpoint, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: show({
      client_name: "chromium consent interop",
      redirect_uris: [redirect.uri],
      token_endpoint_auth_method: "none",
    }),
  });
  const client = await registered.json();
  check(registered.status === 201 && client.client_id, `registration: ${registered.status} ${show(client)}`);

  const verifier = base64url(randomBytes(32));
  const challenge = base64url(createHash("sha256").update(verifier).digest());
  const state = base64url(randomBytes(16));
  const authorize = new URL(metadata.authorization_endpoint);
  for (const [name, value] of Object.entries({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: redirect.uri,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    resource: mcpUrl,
  })) {
    authorize.searchParams.set(name, value);
  }

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--no-sandbox", "--disable-background-networking"],
      headless: true,
    });
  } catch (error) {
    throw new Fail(`could not launch ${chromiumPath} (apt-get install chromium): ${error.message}`);
  }
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    const opened = await page.goto(authorize.href);
    check(opened.status() === 200, `consent page: ${opened.status()}`);
    const input = page.locator("input[name=pairing_code]");
    const approve = page.getByRole("button", { name: "Approve" });

    // A wrong code (the right one with its first character changed): the form again, an error.
    const code = readFileSync(codeFile, "utf8").trim();
    const wrong = (code[0] === "A" ? "B" : "A") + code.slice(1);
    await input.fill(wrong);
    const [refused] = await Promise.all([
      page.waitForResponse((response) => response.request().method() === "POST"),
      approve.click(),
    ]);
    await page.waitForLoadState();
    check(refused.status() === 400, `a wrong code answered ${refused.status()}`);
    check(page.url().startsWith(metadata.authorization_endpoint), `a wrong code went to ${page.url()}`);
    const error = (await page.locator(".error").textContent({ timeout: 5_000 })) ?? "";
    check(/not the pairing code/.test(error), `the error shown is ${show(error)}`);
    check((await input.count()) === 1 && (await input.inputValue()) === "", "no empty code field");
    check(redirect.received.length === 0, `a wrong code reached the redirect: ${redirect.received[0]}`);
    console.log(`wrong code: the form again, 400, ${show(error.trim())}, nothing redirected`);

    // The right code, typed in lower case as a person may (the field shows it in capitals):
    // the browser is sent to the loopback server with the code.
    await input.fill(readFileSync(codeFile, "utf8").trim().toLowerCase());
    await approve.click();
    const back = await redirect.next(15_000);
    await page.waitForURL((url) => url.href.startsWith(redirect.uri));
    check(back.searchParams.get("state") === state, `state came back as ${back.searchParams.get("state")}`);
    check(back.searchParams.get("iss") === metadata.issuer, `iss came back as ${back.searchParams.get("iss")}`);
    const authorizationCode = back.searchParams.get("code");
    check(authorizationCode, `no code in ${back}`);
    console.log(`approved: the browser reached ${redirect.uri} with code, state and iss`);
  } finally {
    await browser.close();
    redirect.close();
  }

  const answer = await fetch(metadata.token_endpoint, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: redirect.received[0].searchParams.get("code"),
      redirect_uri: redirect.uri,
      client_id: client.client_id,
      code_verifier: verifier,
      resource: mcpUrl,
    }),
  });
  const tokens = await answer.json();
  check(answer.status === 200 && tokens.access_token, `token: ${answer.status} ${show(tokens)}`);
  const listed = await rpcResult(
    await fetch(mcpUrl, {
      method: "POST",
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
        "content-type": "application/json",
        accept: ACCEPT_BOTH,
      },
      body: show({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    }),
  );
  const names = (listed.result?.tools ?? []).map((tool) => tool.name).sort();
  console.log(`tools: ${names.join(", ")}`);
  check(names.join(",") === "roll,roll_dice", `tools/list answered ${show(listed)}`);
}

try {
  await main(process.argv.slice(2));
  process.exit(0);
} catch (error) {
  const message = error instanceof Fail ? error.message : `${error?.name ?? "Error"}: ${error?.message ?? error}`;
  console.log(`FAIL: ${message}`);
  process.exit(1);
}
