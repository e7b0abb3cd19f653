"""Cross-check dice-mcp with FastMCP (PrefectHQ/fastmcp): its Client, its token minting, its JWT verifier.

usage:
  fastmcp_interop.py client URL TOKEN [MODE]
      FastMCP's Client with `auth=BearerAuth(TOKEN)` (TOKEN "-" means no auth): SSETransport when
      URL ends in /sse (or /sse/), StreamableHttpTransport otherwise. Lists tools, calls roll_dice
      and roll, and expects n_dice=0 to come back as an error (FastMCP raises ToolError).
      MODE is FastMCP's `Client(mode=...)`: auto (default: probe server/discover, fall back to
      initialize), legacy, or a modern protocol version. SSE is always legacy.
  fastmcp_interop.py mint DIR ISSUER AUDIENCE
      FastMCP's RSAKeyPair.generate() + create_token(): writes DIR/public.pem, prints only the token.
  fastmcp_interop.py verify PUBLIC_PEM TOKEN ISSUER AUDIENCE
      FastMCP's server-side JWTVerifier (public_key, issuer, audience, RS256) must accept TOKEN, and
      must refuse it for another issuer or audience.
Prints `ok: ...` and exits 0, or `FAIL: ...` and exits 1.
"""

import asyncio
import collections
import json
import logging
import os
import sys

import fastmcp

DESCRIPTION = "Roll `n_dice` 6-sided dice and return the results."
EXPECTED_SCHEMA = {
    "type": "object",
    "properties": {"n_dice": {"type": "integer"}},
    "required": ["n_dice"],
}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class LogCapture(logging.Handler):
    """Collect FastMCP's own log records: its JWT verifier says why it refused a token only there,
    and its Client logs (rather than raises) when a structured result does not match the schema."""

    def __init__(self, level=logging.DEBUG):
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, min_level=logging.DEBUG) -> list[str]:
        return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.records
                if r.levelno >= min_level]

    def clear(self):
        self.records.clear()


def capture_logs() -> LogCapture:
    """Capture FastMCP's logs (all levels) and the MCP SDK's under it (warnings and up). What
    matters ends up in the ok/FAIL line, so FastMCP's own (rich, multi-line) stderr handler goes."""
    capture = LogCapture()
    logger = logging.getLogger("fastmcp")
    logger.setLevel(logging.DEBUG)
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
    logger.addHandler(capture)
    sdk = logging.getLogger("mcp")
    sdk.setLevel(logging.WARNING)
    sdk.addHandler(capture)
    return capture


def describe(error: BaseException, seen: set[int] | None = None) -> str:
    """One line for an exception: leaves of anyio's exception groups, JSON-RPC error code and
    data, HTTP status and challenge, and the chain of causes (which can loop, hence `seen`)."""
    seen = set() if seen is None else seen
    if id(error) in seen or len(seen) > 20:
        return "..."
    seen.add(id(error))
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(describe(e, seen) for e in error.exceptions)
    text = f"{type(error).__name__}: {error}"
    code = getattr(error, "code", None)
    if code is not None:
        text += f" (JSON-RPC code {code}, data {getattr(error, 'data', None)!r})"
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None) is not None:
        text += f" (HTTP {response.status_code}"
        challenge = response.headers.get("www-authenticate")
        if challenge:
            text += f", WWW-Authenticate: {challenge}"
        text += ")"
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None and id(cause) not in seen:
        because = describe(cause, seen)
        if because != "...":
            text += f" <- {because}"
    return text


# --- client -------------------------------------------------------------------------------------

def traced_bearer_auth(token: str | None):
    """FastMCP's BearerAuth (or, for no token, an Auth adding nothing) that also records each HTTP
    exchange the Client makes: the MCP SDK under FastMCP turns an HTTP error on /mcp into a bare
    JSON-RPC error, so the status and WWW-Authenticate are only visible here."""
    import httpx2
    from fastmcp.client import BearerAuth

    class TracedBearerAuth(BearerAuth):
        def __init__(self, token: str | None):
            if token is not None:
                super().__init__(token)
            self.has_token = token is not None
            self.exchanges: list[str] = []

        def auth_flow(self, request: httpx2.Request):
            if self.has_token:
                request = next(super().auth_flow(request))
            response = yield request
            line = f"{request.method} {request.url.path} -> {response.status_code}"
            challenge = response.headers.get("www-authenticate")
            if challenge:
                line += f" (WWW-Authenticate: {challenge})"
            self.exchanges.append(line)
            if os.environ.get("FASTMCP_INTEROP_TRACE"):
                print(f"http: {line}", file=sys.stderr, flush=True)

        def errors(self) -> list[str]:
            return [line for line in self.exchanges if " -> 2" not in line]

        def summary(self) -> str:
            counts = collections.Counter(line.split(" (")[0] for line in self.exchanges)
            return ", ".join(f"{line} x{n}" for line, n in counts.items())

    return TracedBearerAuth(token)


async def run_client(url: str, token: str, mode: str) -> str:
    auth = traced_bearer_auth(None if token == "-" else token)
    capture = capture_logs()
    try:
        return await drive_client(url, auth, mode, capture)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        message = str(error) if isinstance(error, Failure) else describe(error)
        if auth.errors():
            message += f"; HTTP: {'; '.join(auth.errors())}"
        if capture.messages(logging.WARNING):
            message += f"; logged: {' | '.join(capture.messages(logging.WARNING))}"
        raise Failure(message) from error


async def drive_client(url: str, auth, mode: str, capture: LogCapture) -> str:
    from fastmcp.client import Client, SSETransport, StreamableHttpTransport
    from fastmcp.exceptions import ToolError

    is_sse = url.rstrip("/").endswith("/sse")
    transport = (SSETransport if is_sse else StreamableHttpTransport)(url, auth=auth)

    async with Client(transport, mode=mode, timeout=30) as client:
        protocol = client.protocol_version
        tools = {tool.name: tool for tool in await client.list_tools()}
        check(set(tools) == {"roll_dice", "roll"}, f"tools are {sorted(tools)}")
        roll_dice = tools["roll_dice"]
        check(roll_dice.description == DESCRIPTION, f"description is {roll_dice.description!r}")
        check(roll_dice.input_schema == EXPECTED_SCHEMA,
              f"roll_dice input schema is {roll_dice.input_schema}")

        result = await client.call_tool("roll_dice", {"n_dice": 5})
        check(not result.is_error, f"roll_dice failed: {result}")
        text = result.content[0].text
        rolls = json.loads(text)
        check(isinstance(rolls, list) and len(rolls) == 5
              and all(type(r) is int and 1 <= r <= 6 for r in rolls), f"rolls are {text!r}")
        check(result.structured_content == {"result": rolls},
              f"structuredContent is {result.structured_content}, text is {text!r}")
        # `data` is FastMCP's schema-validated view of structuredContent; None means its
        # validation against the tool's outputSchema failed (it logs that instead of raising).
        check(result.data is not None, "FastMCP could not parse roll_dice's structuredContent: "
              + " | ".join(capture.messages(logging.ERROR)))

        result = await client.call_tool("roll", {"expression": "4d6kh3+2"})
        check(not result.is_error, f"roll failed: {result}")
        check(isinstance(result.structured_content, dict), f"roll gave {result.structured_content}")
        total = result.structured_content.get("total")
        check(type(total) is int and 5 <= total <= 20, f"4d6kh3+2 total is {total!r}")
        check(result.data is not None, "FastMCP could not parse roll's structuredContent: "
              + " | ".join(capture.messages(logging.ERROR)))

        # FastMCP's call_tool raises ToolError on isError (raise_on_error=True is its default).
        try:
            bad = await client.call_tool("roll_dice", {"n_dice": 0})
        except ToolError as error:
            refused = str(error)
        else:
            raise Failure(f"roll_dice n_dice=0 did not raise ToolError: {bad}")
        bad = await client.call_tool("roll_dice", {"n_dice": 0}, raise_on_error=False)
        check(bad.is_error, f"roll_dice n_dice=0 has isError false: {bad}")

    errors = capture.messages(logging.ERROR)
    check(not errors, "FastMCP logged errors: " + " | ".join(errors))
    # Warnings do not fail the run but are shown: e.g. the MCP SDK logs "Session termination
    # failed: 202" when the DELETE that closes a legacy session is not answered 200 or 204.
    warnings = capture.messages(logging.WARNING)
    how = "bearer token" if auth.has_token else "no auth"
    kind = "SSETransport" if is_sse else "StreamableHttpTransport"
    return (f"fastmcp {fastmcp.__version__} Client, {kind} {url}, {how}, mode {mode} -> protocol "
            f"{protocol}: listed roll_dice+roll, rolled {rolls}, 4d6kh3+2 = {total}, "
            f"n_dice=0 -> ToolError {refused!r}; HTTP: {auth.summary()}"
            + (f"; warnings: {' | '.join(warnings)}" if warnings else ""))


# --- mint ---------------------------------------------------------------------------------------

def run_mint(directory: str, issuer: str, audience: str) -> str:
    from fastmcp.server.auth.providers.jwt import RSAKeyPair

    key_pair = RSAKeyPair.generate()
    token = key_pair.create_token(
        subject="fastmcp-interop",
        issuer=issuer,
        audience=audience,
        scopes=["dice:roll"],
        expires_in_seconds=600,
    )
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "public.pem"), "w") as f:
        f.write(key_pair.public_key)
    return token


# --- verify -------------------------------------------------------------------------------------

async def run_verify(public_pem: str, token: str, issuer: str, audience: str) -> str:
    from fastmcp.server.auth.providers.jwt import JWTVerifier

    capture = capture_logs()
    with open(public_pem) as f:
        public_key = f.read()

    def verifier(iss, aud):
        return JWTVerifier(public_key=public_key, issuer=iss, audience=aud, algorithm="RS256")

    access = await verifier(issuer, audience).verify_token(token)
    if access is None:
        why = capture.messages() or ["(FastMCP logged no reason)"]
        raise Failure("FastMCP's JWTVerifier refused the dice-mcp token: " + " | ".join(why))
    check(access.token == token, "AccessToken does not carry the token")
    check(access.claims.get("iss") == issuer, f"iss is {access.claims.get('iss')!r}")
    check(access.expires_at is not None, "no expires_at")

    # The acceptance above means something only if the same verifier refuses a mismatch.
    for iss, aud, what in ((issuer + "-other", audience, "issuer"),
                           (issuer, audience + "-other", "audience")):
        capture.clear()
        check(await verifier(iss, aud).verify_token(token) is None,
              f"JWTVerifier accepted the token for another {what}")
        check(any(what in m for m in capture.messages()),
              f"JWTVerifier refused another {what} for another reason: {capture.messages()}")

    return (f"fastmcp {fastmcp.__version__} JWTVerifier(RS256) accepted the dice-mcp token: "
            f"sub {access.subject!r}, client_id {access.client_id!r}, scopes {access.scopes}, "
            f"aud {access.claims.get('aud')!r}; refused it for another issuer and audience")


# --- main ---------------------------------------------------------------------------------------

USAGE = ("usage: fastmcp_interop.py client URL TOKEN [MODE] | mint DIR ISSUER AUDIENCE"
         " | verify PUBLIC_PEM TOKEN ISSUER AUDIENCE")


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "client" and len(args) in (2, 3):
            mode = args[2] if len(args) == 3 else "auto"
            print("ok: " + asyncio.run(run_client(args[0], args[1], mode)))
        elif command == "mint" and len(args) == 3:
            print(run_mint(*args))
        elif command == "verify" and len(args) == 4:
            print("ok: " + asyncio.run(run_verify(*args)))
        else:
            print(USAGE, file=sys.stderr)
            return 2
    except Failure as failure:
        print(f"FAIL: {command}: {failure}")
        return 1
    except BaseException as error:  # noqa: BLE001 - anything FastMCP raises is a failure to report
        if isinstance(error, KeyboardInterrupt):
            raise
        print(f"FAIL: {command}: {describe(error)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
