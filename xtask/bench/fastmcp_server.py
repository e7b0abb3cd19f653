"""The FastMCP peer for `cargo xtask bench`: the same tool, transport mode and auth as dice-mcp's
benchmark configuration, served by FastMCP (PrefectHQ/fastmcp) 4.2.3 on one uvicorn process.

usage:
  fastmcp_server.py --port PORT --public-key PEM [--issuer dice-mcp] [--audience AUD] [--no-auth]

- Tool `roll_dice(n_dice: int) -> list[int]`, FastMCP's own guide example.
- Streamable HTTP at http://127.0.0.1:PORT/mcp, stateless (no session, no initialize needed) and
  JSON responses (`application/json`, not SSE).
- Bearer auth: RS256 JWTs checked against the public key PEM (as written by `dice-mcp keygen`)
  with FastMCP's JWTVerifier, issuer checked (and audience, only when --audience is given).
  --no-auth serves without any auth provider.
- Binds 127.0.0.1 only; one process, one uvicorn server (no workers, no reload); access log off,
  log level warning, no banner, no update check.
- Prints `listening on http://127.0.0.1:PORT/mcp` to stderr once uvicorn has started (socket
  bound and the app's lifespan, which starts FastMCP's session manager, entered).
"""

import argparse
import asyncio
import os
import random
import sys

# FastMCP reads these when it is imported: keep its logging quiet and make it reach nothing.
os.environ["FASTMCP_LOG_LEVEL"] = "WARNING"
os.environ["FASTMCP_SHOW_SERVER_BANNER"] = "false"
os.environ["FASTMCP_CHECK_FOR_UPDATES"] = "off"

import uvicorn  # noqa: E402
from fastmcp import FastMCP  # noqa: E402
from fastmcp.server.auth.providers.jwt import JWTVerifier  # noqa: E402

HOST = "127.0.0.1"
PATH = "/mcp"


def build_server(public_key: str | None, issuer: str | None, audience: str | None) -> FastMCP:
    auth = None
    if public_key is not None:
        auth = JWTVerifier(
            public_key=public_key,
            issuer=issuer,
            audience=audience,
            algorithm="RS256",
        )
    mcp = FastMCP("Dice Roller", auth=auth)

    @mcp.tool
    def roll_dice(n_dice: int) -> list[int]:
        """Roll `n_dice` 6-sided dice and return the results."""
        return [random.randint(1, 6) for _ in range(n_dice)]

    return mcp


async def serve(app, port: int) -> None:
    config = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # What FastMCP's own run_http_async() sets.
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            break
        await asyncio.sleep(0.01)
    if server.started:
        print(f"listening on http://{HOST}:{port}{PATH}", file=sys.stderr, flush=True)
    await task
    if not server.started:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description="FastMCP peer for the dice-mcp benchmark")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-key", metavar="PEM", help="RS256 public key PEM file")
    parser.add_argument("--issuer", default="dice-mcp", help="required `iss` (default dice-mcp)")
    parser.add_argument("--audience", default=None, help="required `aud` (default: not checked)")
    parser.add_argument("--no-auth", action="store_true", help="serve without bearer auth")
    args = parser.parse_args()

    public_key = None
    if not args.no_auth:
        if not args.public_key:
            parser.error("--public-key PEM is required unless --no-auth")
        with open(args.public_key, encoding="utf-8") as f:
            public_key = f.read()

    mcp = build_server(public_key, args.issuer, args.audience)
    app = mcp.http_app(
        path=PATH,
        transport="http",
        stateless_http=True,
        json_response=True,
    )
    try:
        asyncio.run(serve(app, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
