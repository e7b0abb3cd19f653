"""Drive dice-mcp with the official Python MCP SDK: list, call roll_dice and roll, bad input.

usage: python python_sdk_client.py URL MODE [TOKEN]
A URL ending in /sse is driven through the SDK's legacy `sse_client`; any other URL through
Streamable HTTP. MODE is the SDK's `Client(mode=...)`: legacy (initialize handshake), auto
(server/discover, falling back to initialize) or 2026-07-28 (stateless revision). With TOKEN,
every request carries `Authorization: Bearer TOKEN`.
Exits non-zero with a message on the first thing that is not as expected.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

EXPECTED_SCHEMA = {
    "type": "object",
    "properties": {"n_dice": {"type": "integer"}},
    "required": ["n_dice"],
}


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAIL: {message}")


async def main(url: str, mode: str, token: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    if url.rstrip("/").endswith("/sse"):
        server = sse_client(url, headers=headers)
    elif headers:
        server = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
    else:
        server = url
    async with Client(server, mode=mode, raise_exceptions=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        check(set(tools) == {"roll_dice", "roll"}, f"tools are {sorted(tools)}")
        roll_dice = tools["roll_dice"]
        check(
            roll_dice.description == "Roll `n_dice` 6-sided dice and return the results.",
            f"description is {roll_dice.description!r}",
        )
        check(roll_dice.input_schema == EXPECTED_SCHEMA, f"schema is {roll_dice.input_schema}")

        result = await client.call_tool("roll_dice", {"n_dice": 5})
        check(not result.is_error, f"roll_dice failed: {result}")
        rolls = json.loads(result.content[0].text)
        check(len(rolls) == 5 and all(1 <= r <= 6 for r in rolls), f"rolls are {rolls}")
        check(result.structured_content == {"result": rolls}, f"structured {result.structured_content}")

        result = await client.call_tool("roll", {"expression": "4d6kh3+2"})
        check(not result.is_error, f"roll failed: {result}")
        total = result.structured_content["total"]
        check(5 <= total <= 20, f"total is {total}")

        result = await client.call_tool("roll_dice", {"n_dice": 0})
        check(result.is_error, f"n_dice=0 was not an error: {result}")
    auth = "with a token" if token else "without auth"
    print(f"ok: python mcp SDK, {url}, mode {mode}, {auth}: listed, rolled {rolls}, 4d6kh3+2 = {total}")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
