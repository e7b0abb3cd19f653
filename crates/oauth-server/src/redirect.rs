//! Redirect URIs: which a client may register, and when a requested one matches.

use url::{Host, Url};

/// Schemes never accepted: they run code or read local files in the browser.
const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "file", "vbscript", "blob", "about"];

/// Why a redirect URI cannot be registered.
pub(crate) fn refuse_registration(uri: &str) -> Option<String> {
    let Ok(url) = Url::parse(uri) else {
        return Some(format!("{uri:?} is not an absolute URI"));
    };
    if url.fragment().is_some() {
        return Some(format!(
            "{uri:?} has a fragment, which redirect URIs must not have"
        ));
    }
    match url.scheme() {
        "https" => None,
        "http" if is_loopback(&url) => None,
        "http" => Some(format!(
            "{uri:?} is plain http on a host other than loopback; use https (or http on \
             127.0.0.1, [::1] or localhost)"
        )),
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Some(format!(
            "the {scheme}: scheme is not allowed for redirect URIs"
        )),
        // A private-use scheme of a native app, e.g. cursor://anysphere.cursor-mcp/...
        _ => None,
    }
}

/// Whether the URL is http(s) on a loopback host.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether `requested` is one of `registered`: the same string, or, for a loopback http
/// redirect, the same but for the port (RFC 8252 §7.3: native apps listen on any free port).
pub(crate) fn matches(registered: &[String], requested: &str) -> bool {
    registered.iter().any(|uri| uri == requested)
        || Url::parse(requested).is_ok_and(|wanted| {
            wanted.scheme() == "http"
                && is_loopback(&wanted)
                && registered.iter().any(|uri| {
                    Url::parse(uri).is_ok_and(|known| {
                        known.scheme() == "http"
                            && known.host() == wanted.host()
                            && known.path() == wanted.path()
                            && known.query() == wanted.query()
                    })
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_loopback_http_and_private_schemes_register_and_the_rest_do_not() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "http://[::1]:9/cb",
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "vscode://vscode.github-authentication/did-authenticate",
        ] {
            assert_eq!(refuse_registration(ok), None, "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "http://evil.example/cb",
            "https://a.example/cb#frag",
            "/relative",
            "",
        ] {
            assert!(refuse_registration(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn loopback_redirects_match_on_any_port_and_others_exactly() {
        let registered = vec![
            "http://127.0.0.1:1234/callback".to_owned(),
            "https://a.example/cb".to_owned(),
        ];
        assert!(matches(&registered, "http://127.0.0.1:1234/callback"));
        assert!(matches(&registered, "http://127.0.0.1:5555/callback"));
        assert!(matches(&registered, "https://a.example/cb"));
        for wrong in [
            "http://127.0.0.1:5555/other",
            "http://localhost:1234/callback",
            "https://a.example/cb/",
            "https://a.example:8443/cb",
            "https://a.example/cb?x=1",
        ] {
            assert!(!matches(&registered, wrong), "{wrong}");
        }
    }
}
