"""The official Python SDK's OAuth client against `dice-mcp dev`, from the first 401 on.

usage: python python_sdk_oauth.py MCP_URL PAIRING_CODE_FILE
PAIRING_CODE_FILE holds the pairing code `dev` printed last (xtask rewrites it whenever dev
prints a new one); it is read when the consent page asks for the code.

What it proves: `mcp.client.auth.OAuthClientProvider`, with nothing configured but a redirect
URI and an in-memory TokenStorage, finds the authorization server from the 401's
`WWW-Authenticate` (RFC 9728 resource metadata, then RFC 8414 metadata), registers (RFC 7591;
no auth method asked for, so the server's default `client_secret_basic` is used with HTTP
Basic on /token), gets a code through the consent form, checks its `state` and `iss`
(RFC 9207), exchanges it with PKCE S256, and then lists and calls the tools. The script plays
the person's browser in the redirect handler: it GETs the authorization URL, posts the form's
hidden fields back with the pairing code, and takes `code`, `state` and `iss` from the 302's
Location (redirects are not followed; nothing listens at the redirect URI).
Then it forces a refresh: this SDK refreshes before a request when its access token has
expired by its own clock (`OAuthContext.token_expiry_time`; a 401 starts a new authorization
instead), so the script sets that clock to the past and calls a tool again. The refresh must
rotate both tokens and need no second consent.
Prints `tools: ...`, `rolled: [...]`, `refreshed: yes ...`; exits non-zero with `FAIL: ...`
on the first thing that is not as expected.
"""

import asyncio
import json
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# Loopback, as a native app registers it; nothing listens there: the Location is read instead.
REDIRECT_URI = "http://127.0.0.1:9/callback"


class Fail(Exception):
    """A check that did not hold; raised inside the SDK's task groups, reported at the top."""


def check(condition, message):
    if not condition:
        raise Fail(message)


def first_failure(error: BaseException) -> Fail | None:
    """The `Fail` in `error`, looking inside the exception groups anyio wraps it in."""
    if isinstance(error, Fail):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := first_failure(inner)) is not None:
                return found
    return None


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory; keeps every token set it was given."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.saved: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.saved.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class ConsentForm(HTMLParser):
    """The first form of a page: its action, and its named inputs with their values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.text_inputs: list[str] = []
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attrs.get("action") or ""
            self._in_form = True
        elif tag == "input" and self._in_form and attrs.get("name"):
            if attrs.get("type") == "hidden":
                self.fields[attrs["name"]] = attrs.get("value") or ""
            elif attrs.get("type") == "text":
                self.text_inputs.append(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


class Browser:
    """The person: opens the authorization URL, types the pairing code, is redirected."""

    def __init__(self, code_file: Path) -> None:
        self.code_file = code_file
        self.result: AuthorizationCodeResult | None = None
        self.consents = 0

    async def open(self, authorization_url: str) -> None:
        self.consents += 1
        async with httpx2.AsyncClient(follow_redirects=False, timeout=10) as http:
            page = await http.get(authorization_url)
            check(page.status_code == 200, f"consent page: {page.status_code} {page.text[:300]}")
            form = ConsentForm()
            form.feed(page.text)
            check(form.action is not None, "the consent page has no form")
            check(form.text_inputs == ["pairing_code"], f"the form asks for {form.text_inputs}")
            query = {k: v[0] for k, v in parse_qs(urlparse(authorization_url).query).items()}
            for name in ("client_id", "redirect_uri", "state", "code_challenge"):
                check(form.fields.get(name) == query.get(name), f"hidden {name} is {form.fields.get(name)!r}")
            code = self.code_file.read_text().strip()
            answer = await http.post(
                urljoin(str(page.url), form.action), data={**form.fields, "pairing_code": code}
            )
            check(answer.status_code == 302, f"approval: {answer.status_code} {answer.text[:300]}")
            location = answer.headers["location"]
            check(location.startswith(REDIRECT_URI + "?"), f"redirected to {location}")
            back = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
            check("code" in back, f"no code in {location}")
            self.result = AuthorizationCodeResult(code=back["code"], state=back.get("state"), iss=back.get("iss"))
            print("consent: approved with the pairing code, 302 with code, state and iss")

    async def callback(self) -> AuthorizationCodeResult:
        check(self.result is not None, "the callback ran before the redirect")
        result, self.result = self.result, None
        return result


async def main(url: str, code_file: str) -> None:
    storage = MemoryStorage()
    browser = Browser(Path(code_file))
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="python-sdk interop",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    async with create_mcp_http_client(auth=provider) as http:
        async with Client(streamable_http_client(url, http_client=http), cache=None, raise_exceptions=True) as client:
            check(storage.client is not None, "no client was registered")
            method = storage.client.token_endpoint_auth_method
            check(method == "client_secret_basic" and storage.client.client_secret, f"registered as {method}")
            print(f"registered: {method}, with a client_secret")
            tools = sorted(tool.name for tool in (await client.list_tools()).tools)
            print(f"tools: {', '.join(tools)}")
            check(tools == ["roll", "roll_dice"], f"tools are {tools}")
            result = await client.call_tool("roll_dice", {"n_dice": 3})
            check(not result.is_error, f"roll_dice failed: {result}")
            rolls = json.loads(result.content[0].text)
            check(len(rolls) == 3 and all(1 <= r <= 6 for r in rolls), f"rolls are {rolls}")
            print(f"rolled: {rolls}")

            first = storage.tokens
            check(first is not None and first.refresh_token, f"tokens after consent: {first}")
            # The SDK's own clock says the access token has expired: the next request refreshes.
            provider.context.token_expiry_time = time.time() - 1
            result = await client.call_tool("roll_dice", {"n_dice": 2})
            check(not result.is_error, f"roll_dice after the refresh failed: {result}")
            second = storage.tokens
            check(len(storage.saved) == 2, f"{len(storage.saved)} token sets were saved, not 2")
            check(second.access_token != first.access_token, "the access token did not change")
            check(second.refresh_token not in (None, first.refresh_token), "the refresh token was not rotated")
            check(browser.consents == 1, f"{browser.consents} consents; the refresh asked for another")
            print("refreshed: yes (new access and refresh tokens, no second consent), rolled again")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python python_sdk_oauth.py MCP_URL PAIRING_CODE_FILE")
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except BaseException as error:
        failure = first_failure(error)
        if failure is None:
            raise
        raise SystemExit(f"FAIL: {failure}") from None
