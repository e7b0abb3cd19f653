"""Cross-check dice-mcp's tokens with an independent JWT implementation (PyJWT + cryptography).

usage:
  pyjwt_tokens.py mint DIR ISSUER     write DIR/public.pem, print a PyJWT-signed RS256 token
  pyjwt_tokens.py call MCP_URL TOKEN  401 without the token, a roll_dice call with it
  pyjwt_tokens.py verify PUBLIC_PEM JWKS TOKEN ISSUER
                                      PyJWT verifies a dice-mcp token; kid is the RFC 7638
                                      thumbprint, computed here independently
Exits non-zero with a message on the first thing that is not as expected.
"""

import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def fail(message):
    raise SystemExit(f"FAIL: {message}")


def b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint(directory: str, issuer: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "public.pem"), "wb") as f:
        f.write(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    now = int(time.time())
    claims = {"sub": "pyjwt", "iss": issuer, "iat": now, "nbf": now, "exp": now + 300,
              "scope": "dice:roll"}
    print(jwt.encode(claims, key, algorithm="RS256"))


def post(url: str, token: str | None) -> tuple[int, dict]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "roll_dice", "arguments": {"n_dice": 3}}}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def call(url: str, token: str) -> None:
    status, _ = post(url, None)
    if status != 401:
        fail(f"without a token the server answered {status}, not 401")
    status, reply = post(url, token)
    if status != 200:
        fail(f"with the PyJWT token the server answered {status}")
    rolls = reply["result"]["structuredContent"]["result"]
    if len(rolls) != 3:
        fail(f"rolls are {rolls}")
    print(f"ok: dice-mcp accepted a PyJWT token and rolled {rolls}")


def verify(public_pem: str, jwks_path: str, token: str, issuer: str) -> None:
    with open(public_pem, "rb") as f:
        public_key = serialization.load_pem_public_key(f.read())
    claims = jwt.decode(token, public_key, algorithms=["RS256"], issuer=issuer,
                        options={"require": ["exp", "iat", "nbf", "iss", "sub", "jti"],
                                 "verify_aud": False})
    numbers = public_key.public_numbers()
    canonical = json.dumps({"e": b64url_uint(numbers.e), "kty": "RSA", "n": b64url_uint(numbers.n)},
                           separators=(",", ":"), sort_keys=True)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    kid = jwt.get_unverified_header(token).get("kid")
    if kid != thumbprint:
        fail(f"kid {kid} is not the RFC 7638 thumbprint {thumbprint}")
    with open(jwks_path) as f:
        jwks = json.load(f)
    if [k.get("kid") for k in jwks["keys"]] != [thumbprint]:
        fail(f"jwks.json kids {[k.get('kid') for k in jwks['keys']]} != {thumbprint}")
    jwk_key = jwt.PyJWK(jwks["keys"][0]).key
    jwt.decode(token, jwk_key, algorithms=["RS256"], options={"verify_aud": False})
    print(f"ok: PyJWT verified a dice-mcp token for sub={claims['sub']}, kid matches RFC 7638")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"mint": mint, "call": call, "verify": verify}[command](*args)
