//! The HTML pages: the consent form that asks for the pairing code, and the error page for
//! requests that cannot be sent back to the client. No script, no external resources, and
//! headers that keep them out of frames (clickjacking) and out of caches.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with the security headers every page of this server carries.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:34em;\
         margin:3em auto;padding:0 1em;line-height:1.5}}input[type=text]{{font-size:1.4em;\
         letter-spacing:.1em;width:9em;text-transform:uppercase}}button{{font-size:1.1em}}\
         .error{{color:#b00020}}code{{background:#f3f3f3;padding:0 .2em}}</style></head>\
         <body>{body}</body></html>\n",
        title = escape(title),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The `400` page for a request that must not be redirected (unknown client, unregistered
/// redirect URI): the browser stays here.
pub(crate) fn error_page(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Authorization request refused",
        &format!(
            "<h1>This authorization request was refused</h1><p class=\"error\">{}</p>\
             <p>Nothing was sent back to the application. Start the connection again from it.</p>",
            escape(message)
        ),
    )
}

/// What the consent form shows and carries.
pub(crate) struct Consent<'a> {
    pub(crate) client_name: &'a str,
    pub(crate) redirect_host: &'a str,
    pub(crate) server_name: &'a str,
    /// The authorization request, carried in hidden fields (and checked again on submit).
    pub(crate) fields: &'a [(&'static str, &'a str)],
    /// Why the previous try failed, if it did.
    pub(crate) problem: Option<&'a str>,
}

/// The consent page: who asks, where they will be sent, and a field for the pairing code.
pub(crate) fn consent_page(consent: &Consent<'_>, status: StatusCode) -> Response {
    let hidden: String = consent
        .fields
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            )
        })
        .collect();
    let problem = consent
        .problem
        .map(|text| format!("<p class=\"error\">{}</p>", escape(text)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Connect {client} to {server}?</h1>\
         <p><strong>{client}</strong> asks to use {server} on your behalf. After you approve, \
         your browser goes back to <code>{host}</code>.</p>\
         <p>To approve, type the pairing code that {server} shows in its terminal.</p>\
         {problem}\
         <form method=\"post\" action=\"\">{hidden}\
         <p><label for=\"pairing_code\">Pairing code</label><br>\
         <input type=\"text\" id=\"pairing_code\" name=\"pairing_code\" autocomplete=\"off\" \
         autocapitalize=\"characters\" spellcheck=\"false\" placeholder=\"XXXX-XXXX\" \
         required autofocus></p>\
         <p><button type=\"submit\">Approve</button></p></form>\
         <p>Did not start this? Close this page; nothing is shared until the code is typed.</p>",
        client = escape(consent.client_name),
        server = escape(consent.server_name),
        host = escape(consent.redirect_host),
    );
    page(status, "Approve a connection", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_and_values_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;y&#x27;"
        );
    }
}
