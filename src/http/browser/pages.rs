//! The HTML of Steward's pages: server-rendered, one stylesheet, no
//! scripts, every value escaped. Forms carry the CSRF token as a hidden field.

use std::fmt::Write as _;

/// Escapes text for HTML content and double-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body`.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · Steward</title>
<link rel="stylesheet" href="/static/steward.css">
</head>
<body>
<header class="brand"><span class="mark" aria-hidden="true">S</span><span>Steward</span></header>
<main>
{body}
</main>
<footer>Steward · User-Managed Access</footer>
</body>
</html>
"#,
        title = esc(title),
    )
}

/// Hidden form fields, escaped.
pub fn hidden(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        let _ = writeln!(
            out,
            r#"<input type="hidden" name="{}" value="{}">"#,
            esc(name),
            esc(value)
        );
    }
    out
}

/// A sign-in provider's button.
pub struct ProviderButton {
    pub issuer: String,
    pub label: String,
}

/// The sign-in page.
pub fn sign_in(
    csrf: &str,
    return_to: &str,
    username: &str,
    error: Option<&str>,
    providers: &[ProviderButton],
) -> String {
    let alert = error
        .map(|e| format!(r#"<p class="alert" role="alert">{}</p>"#, esc(e)))
        .unwrap_or_default();
    let mut upstream = String::new();
    if !providers.is_empty() {
        upstream.push_str(r#"<div class="divider">or</div><div class="providers">"#);
        for provider in providers {
            let _ = write!(
                upstream,
                r#"<form method="get" action="/signin/upstream">{}<button type="submit" class="secondary">Continue with {}</button></form>"#,
                hidden(&[("issuer", &provider.issuer), ("return_to", return_to)]),
                esc(&provider.label)
            );
        }
        upstream.push_str("</div>");
    }
    layout(
        "Sign in",
        &format!(
            r#"<h1>Sign in</h1>
<p class="muted">Sign in to continue to the application that sent you here.</p>
{alert}<form method="post" action="/signin">
{hidden}<label for="username">Username</label>
<input type="text" id="username" name="username" value="{username}" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="256" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" maxlength="1024" required>
<div class="actions stretch"><button type="submit">Sign in</button></div>
</form>
{upstream}"#,
            hidden = hidden(&[("csrf", csrf), ("return_to", return_to)]),
            username = esc(username),
        ),
    )
}

/// Who is signed in, with a sign-out button (back to `return_to`).
fn signed_in_as(subject: &str, csrf: &str, return_to: &str) -> String {
    format!(
        r#"<div class="who"><span class="muted">Signed in as <strong>{}</strong></span><form method="post" action="/signout">{}<button type="submit" class="link">Not you? Sign out</button></form></div>"#,
        esc(subject),
        hidden(&[("csrf", csrf), ("return_to", return_to)])
    )
}

/// What one consented role lets the client do.
pub struct Role {
    pub title: &'static str,
    pub detail: String,
}

/// What every page asking the signed-in person to decide for a client
/// shows and carries.
pub struct Ask<'a> {
    pub client_name: &'a str,
    /// Where the browser goes after the decision.
    pub redirect_host: &'a str,
    pub subject: &'a str,
    pub csrf: &'a str,
    /// The request, carried through the form.
    pub fields: &'a [(&'a str, &'a str)],
    /// This page, for the sign-out button to come back to.
    pub return_to: &'a str,
}

/// The consent page of an authorization request.
pub struct Consent<'a> {
    pub ask: Ask<'a>,
    pub roles: &'a [Role],
    pub scopes: &'a [String],
}

/// Renders the consent page.
pub fn consent(page: &Consent) -> String {
    let mut items = String::new();
    for role in page.roles {
        items.push_str(&item(role.title, &role.detail));
    }
    let scopes = page
        .scopes
        .iter()
        .map(|s| format!("<code>{}</code>", esc(s)))
        .collect::<Vec<_>>()
        .join(" ");
    layout(
        "Allow access",
        &format!(
            r#"<h1><span>{client}</span> wants access to your account</h1>
<p class="muted">If you allow it, <strong>{client}</strong> may:</p>
<ul class="grants">{items}</ul>
<p class="muted">Scopes: {scopes}. You will be sent back to <strong>{host}</strong>.</p>
{form}"#,
            client = esc(page.ask.client_name),
            host = esc(page.ask.redirect_host),
            form = decision(&page.ask, "/oauth/authorize", "Deny", ("allow", "Allow")),
        ),
    )
}

/// The claims-gathering page: which details would be shared.
pub struct ShareClaims<'a> {
    pub ask: Ask<'a>,
    pub claims: &'a [(String, String)],
}

/// Renders the claims-gathering page.
pub fn share_claims(page: &ShareClaims) -> String {
    let mut items = item("Your account", page.ask.subject);
    for (name, value) in page.claims {
        items.push_str(&item(name, value));
    }
    layout(
        "Share your details",
        &format!(
            r#"<h1>Share your details with <span>{client}</span>?</h1>
<p class="muted">A resource owner's policy needs to know who you are before <strong>{client}</strong> can get access for you. Steward will use these verified details for this one request:</p>
<ul class="grants">{items}</ul>
<p class="muted">You will be sent back to <strong>{host}</strong>.</p>
{form}"#,
            client = esc(page.ask.client_name),
            host = esc(page.ask.redirect_host),
            form = decision(&page.ask, "/uma/claims", "Don't share", ("share", "Share")),
        ),
    )
}

/// One line of a grants list: what, and in detail.
fn item(title: &str, detail: &str) -> String {
    format!(
        "<li><strong>{}</strong><span class=\"muted\">{}</span></li>",
        esc(title),
        esc(detail)
    )
}

/// The decision form posted to `action` (the request and the CSRF token
/// hidden in it, a "no" and a "yes" button whose `decision` value is
/// `yes.0`), and who is deciding. The words are the page's own markup,
/// not escaped.
fn decision(
    ask: &Ask,
    action: &'static str,
    no: &'static str,
    yes: (&'static str, &'static str),
) -> String {
    let mut fields = ask.fields.to_vec();
    fields.push(("csrf", ask.csrf));
    format!(
        r#"<form method="post" action="{action}">
{hidden}<div class="actions stretch"><button type="submit" name="decision" value="deny" class="secondary">{no}</button><button type="submit" name="decision" value="{value}">{label}</button></div>
</form>
{who}"#,
        hidden = hidden(&fields),
        value = yes.0,
        label = yes.1,
        who = signed_in_as(ask.subject, ask.csrf, ask.return_to),
    )
}

/// A page for a signed-in user with nothing pending.
pub fn signed_in(subject: &str, csrf: &str) -> String {
    layout(
        "Signed in",
        &format!(
            r#"<h1>You are signed in</h1>
<p class="muted">Return to the application you came from to continue.</p>
{}"#,
            signed_in_as(subject, csrf, "/signin")
        ),
    )
}

/// An error the user must see (never redirected to an unchecked URI).
pub fn problem(title: &str, detail: &str) -> String {
    layout(
        title,
        &format!(
            r#"<h1>{}</h1>
<p class="alert" role="alert">{}</p>
<p class="muted">Go back to the application you came from and try again. If this keeps happening, contact its operator.</p>"#,
            esc(title),
            esc(detail)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_everywhere() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = sign_in("c", "/x\"><script>", "<b>", Some("<i>"), &[]);
        assert!(!page.contains("<script>"));
        assert!(!page.contains("<b>"));
        assert!(!page.contains("<i>"));
    }
}
