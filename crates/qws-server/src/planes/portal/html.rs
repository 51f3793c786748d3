//! HTML building: escaping, the page frame and the portal's response headers.
//!
//! Pages are built with `format!` and these helpers rather than a template crate: the portal
//! has a dozen small pages, and two functions ([`esc`] for text and attribute values, [`seg`]
//! for URL path segments) are all the escaping it needs. Every value from a request, the store
//! or an API answer goes through one of them; attribute values are always double-quoted.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// Escapes text for an HTML text node or a double-quoted attribute value.
pub use crate::http::html::escape as esc;

/// Everything but RFC 3986's unreserved characters is encoded in a segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL path segment (or query value).
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// The Content-Security-Policy of every portal response: only this server's own script and
/// style files, no inline code, no framing, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Adds the portal's security headers (and `no-store` unless the response set its own cache
/// policy).
pub fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The workspace a page belongs to, for its navigation.
pub struct WsNav<'a> {
    /// Link prefix `/portal/ws/{sub}/{rg}/{ws}`.
    pub base: &'a str,
    /// The workspace name.
    pub name: &'a str,
    /// Which link is the current page.
    pub current: &'a str,
}

/// The workspace navigation: (path suffix, accessible name).
pub const WS_LINKS: &[(&str, &str)] = &[
    ("overview", "Overview"),
    ("keys", "Access Keys"),
    ("providers", "Providers"),
    ("jobs", "Job management"),
    ("quotas", "Quotas"),
    ("iam", "Access control (IAM)"),
    ("activity", "Activity log"),
];

/// Who is signed in, for the header.
pub struct Chrome<'a> {
    /// Display name and user principal name.
    pub user: Option<(&'a str, &'a str)>,
    /// The session's CSRF token (for the sign-out form).
    pub csrf: &'a str,
}

/// A complete page.
pub fn page(
    status: StatusCode,
    title: &str,
    chrome: &Chrome<'_>,
    nav: Option<&WsNav<'_>>,
    main: &str,
) -> Response {
    let mut out = String::with_capacity(main.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} · qws portal</title>\
<link rel=\"stylesheet\" href=\"/portal/assets/portal.css\">\
<script src=\"/portal/assets/portal.js\" defer></script></head><body>\
<a class=\"skip\" href=\"#main\">Skip to content</a>\
<header class=\"top\"><a class=\"brand\" href=\"/portal/\">qws portal</a>",
        t = esc(title)
    );
    if let Some((name, upn)) = chrome.user {
        let _ = write!(
            out,
            "<div class=\"who\"><span title=\"{upn}\">{name}</span>\
<form method=\"post\" action=\"/portal/signout\">{csrf}<button type=\"submit\" class=\"link\">Sign out</button></form></div>",
            upn = esc(upn),
            name = esc(name),
            csrf = csrf_field(chrome.csrf),
        );
    }
    out.push_str("</header><div class=\"frame\">");
    if let Some(nav) = nav {
        let _ = write!(
            out,
            "<nav class=\"side\" aria-label=\"Workspace {}\"><ul>",
            esc(nav.name)
        );
        for (suffix, name) in WS_LINKS {
            let current = if *suffix == nav.current {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<li><a href=\"{}/{suffix}\"{current}>{name}</a></li>",
                esc(nav.base)
            );
        }
        out.push_str("</ul></nav>");
    }
    let _ = write!(
        out,
        "<main id=\"main\"><h1>{}</h1>{main}</main></div></body></html>",
        esc(title)
    );
    secure(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            out,
        )
            .into_response(),
    )
}

/// The hidden CSRF field of a state-changing form.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A 303 redirect (after a form post, or to the sign-in page).
pub fn redirect(to: &str) -> Response {
    secure(
        (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/portal/")),
            )],
        )
            .into_response(),
    )
}

/// A notice box: `kind` is `error` or `ok`.
pub fn notice(kind: &str, text: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!(
        "<p class=\"notice {kind}\" role=\"{role}\">{}</p>",
        esc(text)
    )
}

/// A table from a header row and body rows (cells already HTML).
pub fn table(caption: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    // The box scrolls sideways on narrow screens, so it must be reachable by keyboard.
    let mut out = format!(
        "<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{c}\"><table><caption>{c}</caption><thead><tr>",
        c = esc(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\">None.</td></tr>",
            head.len().max(1)
        );
    }
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("plain-name_1.2"), "plain-name_1.2");
    }

    #[test]
    fn path_segments_cannot_add_segments_or_queries() {
        assert_eq!(seg("a/b?c#d"), "a%2Fb%3Fc%23d");
        assert_eq!(seg("rg(1)"), "rg%281%29");
    }

    #[test]
    fn pages_carry_the_security_headers() {
        let chrome = Chrome {
            user: None,
            csrf: "",
        };
        let r = page(StatusCode::OK, "<T>", &chrome, None, "");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-store");
    }
}
