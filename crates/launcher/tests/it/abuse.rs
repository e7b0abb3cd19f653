//! An abuse sweep through the real binary: a hundred-odd hostile or malformed requests,
//! sent raw over loopback, each of which must get a bounded answer below 500 (or, for
//! bytes that are not HTTP at all, a closed connection), never a 5xx and never a hang.

use std::{path::Path, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use test_support::{ACCEPT_BOTH, http, initialize_body, post_rpc, session_id};

use crate::{
    auth::{keygen, token},
    binary::start,
};

/// What the server did with one request.
#[derive(Debug)]
enum Outcome {
    Status(u16),
    /// The connection closed without an answer (fine for bytes that are not HTTP).
    Closed,
    /// Nothing within the deadline: a hang.
    Hung,
}

/// Sends `request` on a new connection and reads the status line of the answer.
async fn exchange(addr: &str, request: &[u8]) -> Outcome {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return Outcome::Closed;
    };
    // The server may answer (and close) before reading everything: ignore write errors.
    let _ = stream.write_all(request).await;
    let mut head = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(8), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    head.extend_from_slice(&buffer[..n]);
                    if head.windows(2).any(|w| w == b"\r\n") {
                        return;
                    }
                }
            }
        }
    })
    .await;
    if read.is_err() {
        return Outcome::Hung;
    }
    let line = String::from_utf8_lossy(&head);
    match line.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
        Some(status) if line.starts_with("HTTP/") => Outcome::Status(status),
        _ => Outcome::Closed,
    }
}

/// A POST of `body` to `path` with `headers`, closing the connection after the answer.
fn post(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

fn rpc_headers(token: &str, extra: &str) -> String {
    format!(
        "Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Accept: {ACCEPT_BOTH}\r\n{extra}"
    )
}

fn call(arguments: &str) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"roll_dice","arguments":{arguments}}}}}"#
    )
    .into_bytes()
}

fn roll(notation: &str) -> Vec<u8> {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "roll", "arguments": {"notation": notation}}})
    .to_string()
    .into_bytes()
}

/// The hostile requests: (name, raw bytes).
fn sweep(token: &str, session: &str, keys: &Path) -> Vec<(String, Vec<u8>)> {
    let auth = rpc_headers(token, "");
    let in_session = rpc_headers(
        token,
        &format!("Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\n"),
    );
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| cases.push((name.to_owned(), bytes));

    // Bodies on /mcp, with a valid token, outside and inside a session.
    for (headers, label) in [(&auth, "no session"), (&in_session, "in session")] {
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("empty body", Vec::new()),
            ("malformed JSON", b"{\"jsonrpc\": \"2.0\", ".to_vec()),
            ("invalid UTF-8", vec![0xff, 0xfe, b'{', 0xc3, 0x28, b'}']),
            ("nested 100k deep", {
                let mut deep = vec![b'['; 100_000];
                deep.extend(vec![b']'; 100_000]);
                deep
            }),
            ("nested objects in params", {
                let mut deep = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":".to_vec();
                deep.extend("{\"a\":".repeat(5000).into_bytes());
                deep.extend(b"1");
                deep.extend(vec![b'}'; 5001]);
                deep
            }),
            ("batch", br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.to_vec()),
            ("empty batch", b"[]".to_vec()),
            ("a number", b"42".to_vec()),
            ("null", b"null".to_vec()),
            ("jsonrpc 1.0", br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#.to_vec()),
            ("no method", br#"{"jsonrpc":"2.0","id":1}"#.to_vec()),
            ("object id", br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#.to_vec()),
            ("float id", br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#.to_vec()),
            ("huge id", format!(r#"{{"jsonrpc":"2.0","id":"{}","method":"ping"}}"#, "x".repeat(200_000)).into_bytes()),
            ("huge method", format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{}"}}"#, "m".repeat(200_000)).into_bytes()),
            ("unknown method", br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}"#.to_vec()),
            ("a response from the client", br#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_vec()),
            ("an error from the client", br#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}"#.to_vec()),
            ("unknown notification", br#"{"jsonrpc":"2.0","method":"notifications/whatever"}"#.to_vec()),
            ("cancel unknown request", br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}}"#.to_vec()),
            ("params null", br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#.to_vec()),
            ("params array", br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1,2]}"#.to_vec()),
            ("unknown tool", br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm -rf","arguments":{}}}"#.to_vec()),
            ("arguments array", call("[]")),
            ("arguments string", call("\"3\"")),
            ("n_dice 1e308", call(r#"{"n_dice":1e308}"#)),
            ("n_dice -1", call(r#"{"n_dice":-1}"#)),
            ("n_dice 2^64", call(r#"{"n_dice":18446744073709551616}"#)),
            ("n_dice string", call(r#"{"n_dice":"many"}"#)),
            ("n_dice null", call(r#"{"n_dice":null}"#)),
            ("extra arguments", call(r#"{"n_dice":2,"sides":1000000000}"#)),
            ("roll huge", roll("99999999d99999999")),
            ("roll d0", roll("1d0")),
            ("roll parens", roll(&"(".repeat(10_000))),
            ("roll long", roll(&"1d6+".repeat(20_000))),
            ("roll unicode", roll("３d６ + ½")),
            ("roll nul", roll("1d6\u{0}")),
            ("initialize junk capabilities", br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{"x":[1,{"y":null}]},"clientInfo":{"name":"","version":""}}}"#.to_vec()),
            ("initialize no params", br#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#.to_vec()),
            ("discover", br#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#.to_vec()),
            ("body over the limit", vec![b' '; 2 * 1024 * 1024]),
        ];
        for (name, body) in bodies {
            add(&format!("{label}: {name}"), post("/mcp", headers, &body));
        }
    }

    let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    // Headers.
    for (name, extra) in [
        (
            "garbage session id",
            "Mcp-Session-Id: ../../etc\r\n".to_owned(),
        ),
        (
            "long session id",
            format!("Mcp-Session-Id: {}\r\n", "a".repeat(20_000)),
        ),
        (
            "non-ASCII session id",
            "Mcp-Session-Id: \u{e9}\u{e9}\r\n".to_owned(),
        ),
        (
            "bad protocol version",
            "MCP-Protocol-Version: 9999-99-99\r\n".to_owned(),
        ),
        (
            "garbage protocol version",
            "MCP-Protocol-Version: \x01\x02\r\n".to_owned(),
        ),
        (
            "foreign Origin",
            "Origin: https://evil.example\r\n".to_owned(),
        ),
        ("null Origin", "Origin: null\r\n".to_owned()),
        (
            "Last-Event-ID junk",
            "Last-Event-ID: 0/-1/\u{0}\r\n".to_owned(),
        ),
        (
            "100 headers",
            (0..100).map(|i| format!("X-H{i}: {i}\r\n")).collect(),
        ),
        (
            "header over the limit",
            format!("X-Big: {}\r\n", "b".repeat(40_000)),
        ),
    ] {
        add(name, post("/mcp", &rpc_headers(token, &extra), list));
    }
    for (name, headers) in [
        (
            "text/plain",
            format!(
                "Authorization: Bearer {token}\r\nContent-Type: text/plain\r\nAccept: {ACCEPT_BOTH}\r\n"
            ),
        ),
        (
            "no content type",
            format!("Authorization: Bearer {token}\r\nAccept: {ACCEPT_BOTH}\r\n"),
        ),
        (
            "Accept text/html",
            format!(
                "Authorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: text/html\r\n"
            ),
        ),
        (
            "no Accept",
            format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"),
        ),
    ] {
        add(name, post("/mcp", &headers, list));
    }

    // Tokens.
    let hs256 = {
        let pem = std::fs::read(keys.join("public.pem")).unwrap();
        let claims = serde_json::json!({"sub": "x", "iss": "dice-mcp", "exp": 9_999_999_999u64});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&pem).unwrap(),
        )
        .unwrap()
    };
    let alg_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4IiwiaXNzIjoiZGljZS1tY3AiLCJleHAiOjk5OTk5OTk5OTl9.";
    let path_kid = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLy4uL2V0Yy9wYXNzd2QiLCJqa3UiOiJodHRwOi8vMTI3LjAuMC4xOjEvandrcyIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.AAAA";
    for (name, authorization) in [
        ("no token", String::new()),
        ("empty bearer", "Authorization: Bearer \r\n".to_owned()),
        ("bearer only", "Authorization: Bearer\r\n".to_owned()),
        ("Basic", "Authorization: Basic dXNlcjpwYXNz\r\n".to_owned()),
        ("three dots", "Authorization: Bearer a.b.c\r\n".to_owned()),
        (
            "not base64",
            "Authorization: Bearer !!!.???.***\r\n".to_owned(),
        ),
        ("alg none", format!("Authorization: Bearer {alg_none}\r\n")),
        (
            "HS256 signed with the public key",
            format!("Authorization: Bearer {hs256}\r\n"),
        ),
        (
            "path in kid, jku",
            format!("Authorization: Bearer {path_kid}\r\n"),
        ),
        (
            "token with its signature cut",
            format!("Authorization: Bearer {}\r\n", &token[..token.len() - 10]),
        ),
        (
            "two Authorization headers",
            format!("Authorization: Bearer x\r\nAuthorization: Bearer {token}\r\n"),
        ),
        (
            "20 KB token",
            format!("Authorization: Bearer {}\r\n", "A".repeat(20_000)),
        ),
        (
            "non-ASCII token",
            "Authorization: Bearer \u{e9}t\u{e9}\r\n".to_owned(),
        ),
    ] {
        let headers =
            format!("{authorization}Content-Type: application/json\r\nAccept: {ACCEPT_BOTH}\r\n");
        add(&format!("token: {name}"), post("/mcp", &headers, list));
    }

    // Methods and paths.
    let bearer = format!("Authorization: Bearer {token}\r\n");
    for (method, path) in [
        ("GET", "/mcp"),
        ("PUT", "/mcp"),
        ("PATCH", "/mcp"),
        ("OPTIONS", "/mcp"),
        ("HEAD", "/mcp"),
        ("TRACE", "/mcp"),
        ("DELETE", "/mcp"),
        ("GET", "/mcp/"),
        ("GET", "/%00"),
        ("GET", "/mcp/../../etc/passwd"),
        ("GET", "/messages/"),
        ("POST", "/sse"),
        ("DELETE", "/sse"),
        ("GET", "/.well-known/oauth-protected-resource/../../mcp"),
        ("GET", "/healthz?x=%ff%fe"),
        ("BREW", "/mcp"),
    ] {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{bearer}\
             Accept: {ACCEPT_BOTH}\r\nContent-Length: 0\r\n\r\n"
        );
        add(&format!("{method} {path}"), request.into_bytes());
    }
    let long_path = format!(
        "GET /{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "p".repeat(60_000)
    );
    add("60 KB path", long_path.into_bytes());

    // /messages/.
    for (name, path, body) in [
        ("no session id", "/messages/".to_owned(), list.to_vec()),
        (
            "unknown session",
            "/messages/?session_id=nope".to_owned(),
            list.to_vec(),
        ),
        (
            "session id twice",
            "/messages/?session_id=a&session_id=b".to_owned(),
            list.to_vec(),
        ),
        (
            "bad query",
            "/messages/?session_id=%zz".to_owned(),
            list.to_vec(),
        ),
        (
            "unknown session, big body",
            "/messages/?session_id=x".to_owned(),
            vec![b'x'; 2 * 1024 * 1024],
        ),
    ] {
        add(&format!("messages: {name}"), post(&path, &auth, &body));
    }

    // The HTTP layer itself.
    let framing: Vec<(&str, Vec<u8>)> = vec![
        ("not HTTP", b"GARBAGE\r\n\r\n".to_vec()),
        ("binary", vec![0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00]),
        ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n".to_vec()),
        ("HTTP/1.0 without Host", b"GET /mcp HTTP/1.0\r\n\r\n".to_vec()),
        ("absolute form, foreign", format!("POST http://evil.example/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n", list.len()).into_bytes().into_iter().chain(list.iter().copied()).collect()),
        ("foreign Host", format!("POST /mcp HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n{auth}Content-Length: 2\r\n\r\n{{}}").into_bytes()),
        ("port out of range", format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:99999\r\nConnection: close\r\n{auth}Content-Length: 2\r\n\r\n{{}}").into_bytes()),
        ("two Hosts", format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n{auth}Content-Length: 2\r\n\r\n{{}}").into_bytes()),
        ("bad chunk size", format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Transfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n").into_bytes()),
        ("chunked and Content-Length", format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n").into_bytes()),
        ("negative Content-Length", format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Length: -1\r\n\r\n").into_bytes()),
        ("two Content-Lengths", format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}").into_bytes()),
        ("2 GB with Expect", format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Expect: 100-continue\r\nContent-Length: 2147483648\r\n\r\n").into_bytes()),
        ("Content-Length larger than sent", format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Length: 100\r\n\r\n{{}}").into_bytes()),
        ("header without colon", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nNoColonHere\r\n\r\n".to_vec()),
        ("NUL in header", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\x00b\r\n\r\n".to_vec()),
        // A SETTINGS frame whose length is not a multiple of 6: a connection error.
        ("HTTP/2 preface then a broken frame", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x05\x04\x00\x00\x00\x00\x00junk!".to_vec()),
    ];
    for (name, bytes) in framing {
        add(&format!("framing: {name}"), bytes);
    }
    cases
}

#[tokio::test]
async fn no_hostile_request_gets_a_5xx_or_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path()).await;
    let public = dir.path().join("public.pem");
    let token = token(dir.path(), &[]).await;
    for mode in [&[][..], &["--stateless"][..]] {
        let mut args = vec![
            "--addr",
            "127.0.0.1:0",
            "--public-key",
            public.to_str().unwrap(),
            "--request-timeout",
            "3s",
        ];
        args.extend_from_slice(mode);
        let (_child, url, _log) = start(&args).await;
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .to_owned();
        let opened = post_rpc(
            &url,
            Some(&token),
            &initialize_body(1, "2025-06-18", "sweep"),
        )
        .await;
        let session = session_id(&opened).unwrap_or_else(|| "none".to_owned());

        let cases = sweep(&token, &session, dir.path());
        assert!(cases.len() > 100, "{} cases", cases.len());
        let outcomes =
            futures::future::join_all(cases.iter().map(|(_, bytes)| exchange(&addr, bytes))).await;
        let mut bad = Vec::new();
        let mut answered = 0;
        for ((name, _), outcome) in cases.iter().zip(&outcomes) {
            match outcome {
                Outcome::Status(status) if *status < 500 => answered += 1,
                Outcome::Closed if name.starts_with("framing:") => {}
                other => bad.push(format!("{name}: {other:?}")),
            }
        }
        assert!(
            bad.is_empty(),
            "{mode:?}: {} of {} hostile requests got a 5xx, a hang or no answer:\n{}",
            bad.len(),
            cases.len(),
            bad.join("\n")
        );
        assert!(answered > 100, "{answered} answered");
        // And the server still serves.
        let health = http()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
}
