// The TypeScript SDK peer for `cargo xtask bench`: the same tool, transport mode and auth as
// dice-mcp's benchmark configuration, served by the official MCP TypeScript SDK
// (@modelcontextprotocol/sdk 1.32.2, pinned with express, jose and zod in package.json beside
// this file) on one Node process.
//
// usage:
//   node ts_sdk_server.mjs --port PORT --public-key PEM [--issuer dice-mcp] [--audience AUD] [--no-auth]
//
// The packages are found the usual way when this file sits next to the node_modules they were
// installed into; otherwise they are resolved from the current working directory (NODE_PATH
// does not apply to ES modules), so `cd target/bench/node && node
// /path/to/xtask/bench/ts_sdk_server.mjs ...` works too. In that case the SDK and zod load as
// their CommonJS builds (the same code, compiled by the SDK's own build), jose as ESM.
//
// - Tool `roll_dice` registered with McpServer.registerTool and zod shapes, as the SDK's README
//   and examples do: input {n_dice: integer}, output {result: integer[]} (dice-mcp advertises
//   the same outputSchema); answers the JSON text of the list and structuredContent
//   {"result": [...]}.
// - Streamable HTTP at http://127.0.0.1:PORT/mcp, stateless: the SDK's documented pattern
//   (src/examples/server/simpleStatelessStreamableHttp.ts): a new McpServer and a new
//   StreamableHTTPServerTransport({sessionIdGenerator: undefined}) for every POST (the SDK
//   refuses to reuse a stateless transport), closed when the response closes.
//   enableJsonResponse: true (application/json answers, not SSE). No initialize is needed: in
//   stateless mode the transport checks no session and the server answers tools/call on a fresh
//   connection.
// - The app is the SDK's createMcpExpressApp() (express 5 + express.json() + the SDK's localhost
//   Host-header check), as in the SDK's examples.
// - Bearer auth: the SDK's requireBearerAuth middleware with a verifier that checks RS256 JWTs
//   with jose (jwtVerify against importSPKI of the PEM, algorithms ["RS256"], issuer checked,
//   audience only when --audience is given). Missing or bad token: 401 with WWW-Authenticate.
//   --no-auth serves without it.
// - Binds 127.0.0.1 only; no per-request logging. Prints `listening on http://127.0.0.1:PORT/mcp`
//   to stderr once the socket is bound.

import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const fromCwd = createRequire(join(process.cwd(), 'noop.js'));

// `import(specifier)`, or, when nothing beside this file provides it, the module that the
// working directory's node_modules resolves it to.
async function load(specifier) {
    try {
        return await import(specifier);
    } catch (error) {
        if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    }
    return import(pathToFileURL(fromCwd.resolve(specifier)).href);
}

const [{ McpServer }, { StreamableHTTPServerTransport }, { createMcpExpressApp }, { requireBearerAuth }, { InvalidTokenError }, { importSPKI, jwtVerify }, zod] =
    await Promise.all([
        load('@modelcontextprotocol/sdk/server/mcp.js'),
        load('@modelcontextprotocol/sdk/server/streamableHttp.js'),
        load('@modelcontextprotocol/sdk/server/express.js'),
        load('@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'),
        load('@modelcontextprotocol/sdk/server/auth/errors.js'),
        load('jose'),
        load('zod/v4')
    ]);
const { z } = zod;

const HOST = '127.0.0.1';
const PATH = '/mcp';

function usage(message) {
    process.stderr.write(
        `ts_sdk_server.mjs: ${message}\n` +
            'usage: node ts_sdk_server.mjs --port PORT --public-key PEM [--issuer dice-mcp] [--audience AUD] [--no-auth]\n'
    );
    process.exit(2);
}

let args;
try {
    args = parseArgs({
        options: {
            port: { type: 'string' },
            'public-key': { type: 'string' },
            issuer: { type: 'string', default: 'dice-mcp' },
            audience: { type: 'string' },
            'no-auth': { type: 'boolean', default: false }
        },
        strict: true
    }).values;
} catch (error) {
    usage(error.message);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage('--port PORT is required');
if (!args['no-auth'] && !args['public-key']) usage('--public-key PEM is required unless --no-auth');

const rollDiceInput = { n_dice: z.number().int() };
const rollDiceOutput = { result: z.array(z.number().int()) };

// One McpServer per request, as the SDK's stateless example does.
function getServer() {
    const server = new McpServer({ name: 'Dice Roller', version: '1.0.0' });
    server.registerTool(
        'roll_dice',
        {
            description: 'Roll `n_dice` 6-sided dice and return the results.',
            inputSchema: rollDiceInput,
            outputSchema: rollDiceOutput
        },
        async ({ n_dice }) => {
            const result = Array.from({ length: n_dice }, () => randomInt(1, 7));
            return {
                content: [{ type: 'text', text: JSON.stringify(result) }],
                structuredContent: { result }
            };
        }
    );
    return server;
}

// The SDK's OAuthTokenVerifier interface, backed by jose.
async function jwtVerifier(pemPath, issuer, audience) {
    const key = await importSPKI(readFileSync(pemPath, 'utf8'), 'RS256');
    const options = { algorithms: ['RS256'], issuer };
    if (audience !== undefined) options.audience = audience;
    return {
        async verifyAccessToken(token) {
            let payload;
            try {
                ({ payload } = await jwtVerify(token, key, options));
            } catch (error) {
                throw new InvalidTokenError(`invalid token: ${error.code ?? error.message}`);
            }
            return {
                token,
                clientId: String(payload.client_id ?? payload.sub ?? ''),
                scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
                expiresAt: payload.exp,
                extra: { claims: payload }
            };
        }
    };
}

const app = createMcpExpressApp({ host: HOST });

if (!args['no-auth']) {
    const verifier = await jwtVerifier(args['public-key'], args.issuer, args.audience);
    app.use(PATH, requireBearerAuth({ verifier }));
}

app.post(PATH, async (req, res) => {
    const server = getServer();
    try {
        const transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: undefined,
            enableJsonResponse: true
        });
        res.on('close', () => {
            transport.close();
            server.close();
        });
        await server.connect(transport);
        await transport.handleRequest(req, res, req.body);
    } catch (error) {
        if (!res.headersSent) {
            res.status(500).json({
                jsonrpc: '2.0',
                error: { code: -32603, message: 'Internal server error' },
                id: null
            });
        }
    }
});

// Stateless: no SSE stream to open and no session to end.
const methodNotAllowed = (req, res) => {
    res.status(405)
        .set('Allow', 'POST')
        .json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
};
app.get(PATH, methodNotAllowed);
app.delete(PATH, methodNotAllowed);

const httpServer = app.listen(port, HOST, error => {
    if (error) {
        process.stderr.write(`ts_sdk_server.mjs: could not listen on ${HOST}:${port}: ${error.message}\n`);
        process.exit(1);
    }
    const bound = httpServer.address().port;
    process.stderr.write(`listening on http://${HOST}:${bound}${PATH}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => process.exit(0));
}
