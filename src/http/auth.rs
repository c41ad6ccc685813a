//! Who may do what over HTTP.
//!
//! - `Authorization: Bearer <token>` names a `[[http.token]]` (compared in
//!   constant time); a wrong token is 401 whatever the request.
//! - A session cookie (HttpOnly, SameSite=Strict, Secure behind TLS) names a
//!   `[[http.user]]` who logged in at `/login` (argon2 password hashes).
//!   Sessions live in memory: a restart logs everybody out.
//! - Changing anything (a POST other than `/login`, `POST /events` and
//!   `POST /api/v2/alerts`, which are ingest like a datagram) needs a token, or a session plus its CSRF
//!   token (`X-CSRF-Token` header, or a form's `csrf` field), checked here
//!   for every change, the page's forms and `/logout` included. With no user and no token configured at all,
//!   changes are allowed from loopback clients only, as JSON or the page's
//!   own forms, and not through a proxy: a request that carries any header
//!   a proxy adds (`Forwarded`, `Via`, `X-Forwarded-*`, `X-Real-IP`,
//!   `*-Client-IP`, …) came from somewhere else, whatever address the
//!   proxy connected from.
//! - Whoever asks, a request must name this server in `Host`, and nothing
//!   is sent or changed from a page of another site (`origin.rs`).
//! - A token's `scopes` say what it may do: `act` (every change above) and
//!   `ingest` (send alerts); both unless said.
//! - Sending alerts (`POST /events`, `POST /api/v2/alerts`) is open like
//!   UDP, within `listen.allow_sources`, unless `http.ingest_requires_token`:
//!   then it needs a token with the `ingest` scope.
//! - Reading is open unless `http.read_requires_login`.
//! - Every answer carries security headers (a CSP without inline script,
//!   `nosniff`, `frame-ancestors 'none'`).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, Principal, Shared};
use crate::alert::UnixSecs;
use crate::config::{HttpConfig, TokenScope};
use crate::store::Store;

pub(crate) const COOKIE: &str = "mauved_session";
/// A session ends this long after login.
const SESSION_S: u64 = 12 * 3600;
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 10_000;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A logged-in user's session.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Session {
    pub(crate) user: String,
    pub(crate) csrf: String,
    pub(crate) expires_at: UnixSecs,
    /// A digest of the user's password hash at login: a session outlives a
    /// restart only while the user's password is the same.
    #[serde(default)]
    password_digest: String,
}

/// A BLAKE2s digest, as hex.
type Digest = String;

fn digest(text: &str) -> Digest {
    use blake2::Digest as _;
    hex(&blake2::Blake2s256::digest(text.as_bytes()))
}

/// Who may log in and with which tokens: what a reloaded configuration
/// replaces at once (sessions, failures and the password checks stay).
#[derive(Debug, Default)]
struct Rules {
    users: Vec<(String, String)>,
    tokens: Vec<(String, String, Vec<TokenScope>)>,
    /// `http.ingest_requires_token`.
    ingest_requires_token: bool,
    read_requires_login: bool,
}

impl Rules {
    fn of(config: &HttpConfig) -> Rules {
        Rules {
            users: config
                .users
                .iter()
                .map(|u| (u.name.clone(), u.password_hash.clone()))
                .collect(),
            tokens: config
                .tokens
                .iter()
                .map(|t| (t.name.clone(), t.token.clone(), t.scopes.clone()))
                .collect(),
            ingest_requires_token: config.ingest_requires_token,
            read_requires_login: config.read_requires_login,
        }
    }

    /// Whether a session still stands for a user of these rules (its user
    /// there, with the password it logged in with).
    fn keeps(&self, session: &Session) -> bool {
        self.users
            .iter()
            .any(|(name, hash)| *name == session.user && digest(hash) == session.password_digest)
    }
}

/// Users, tokens and sessions.
#[derive(Debug)]
pub(crate) struct Auth {
    rules: parking_lot::RwLock<std::sync::Arc<Rules>>,
    /// By a digest of the cookie value (the value itself is kept nowhere,
    /// so neither the map's timing nor the store gives it away).
    sessions: Mutex<HashMap<Digest, Session>>,
    /// Held while the sessions are written, so that the last write holds
    /// the latest of them.
    keeping: Mutex<()>,
    /// Failed logins by name: how many, since when.
    failures: Mutex<HashMap<String, (u32, UnixSecs)>>,
    /// Password checks running at once.
    checks: tokio::sync::Semaphore,
}

impl Default for Auth {
    fn default() -> Self {
        Auth::new(&HttpConfig::default())
    }
}

/// Failed logins allowed per name within [`LOGIN_WINDOW_S`]; then 429.
pub(crate) const MAX_FAILED_LOGINS: u32 = 5;
pub(crate) const LOGIN_WINDOW_S: u64 = 300;
/// Names whose failures are remembered at most.
const MAX_FAILURE_NAMES: usize = 10_000;
/// The longest name and password a login takes.
pub(crate) const MAX_NAME_BYTES: usize = 128;
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;
/// Password checks at once, and how long a login waits for its turn.
const PASSWORD_CHECKS: usize = 1;
const PASSWORD_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A random secret, as hex.
pub fn secret() -> String {
    hex(&rand::random::<[u8; 32]>())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id hash of `password` for `[[http.user]] password_hash`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        argon2::password_hash::SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

impl Auth {
    pub(crate) fn new(config: &HttpConfig) -> Auth {
        Auth {
            rules: parking_lot::RwLock::new(std::sync::Arc::new(Rules::of(config))),
            sessions: Mutex::default(),
            keeping: Mutex::default(),
            failures: Mutex::default(),
            checks: tokio::sync::Semaphore::new(PASSWORD_CHECKS),
        }
    }

    fn rules(&self) -> std::sync::Arc<Rules> {
        self.rules.read().clone()
    }

    /// Takes a reloaded configuration's users and tokens: sessions of a
    /// user who is gone, or whose password changed, end.
    pub(crate) fn reconfigure(&self, config: &HttpConfig) {
        let rules = Rules::of(config);
        self.sessions.lock().retain(|_, s| rules.keeps(s));
        *self.rules.write() = std::sync::Arc::new(rules);
    }

    /// No user and no token: changes only from loopback.
    pub(crate) fn is_open(&self) -> bool {
        let rules = self.rules();
        rules.users.is_empty() && rules.tokens.is_empty()
    }

    pub(crate) fn has_users(&self) -> bool {
        !self.rules().users.is_empty()
    }

    pub(crate) fn read_requires_login(&self) -> bool {
        self.rules().read_requires_login
    }

    fn ingest_requires_token(&self) -> bool {
        self.rules().ingest_requires_token
    }

    /// The token's name and scopes, compared in constant time against
    /// every token.
    fn token(&self, given: &str) -> Option<(String, Vec<TokenScope>)> {
        let mut found = None;
        for (name, token, scopes) in &self.rules().tokens {
            if same(token, given) {
                found = Some((name.clone(), scopes.clone()));
            }
        }
        found
    }

    /// Checks a user's password; on success a new session.
    pub(crate) fn login(
        &self,
        name: &str,
        password: &str,
        now: UnixSecs,
    ) -> Option<(String, Session)> {
        let rules = self.rules();
        let hash = rules
            .users
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_str());
        // A missing user costs the same as a wrong password.
        let dummy = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Ve1qTRvwdbCd5ETxWEnTHNzK0/fw8BTuJp8yhPbE9Ws";
        let parsed = PasswordHash::new(hash.unwrap_or(dummy)).ok()?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        if !ok || hash.is_none() {
            return None;
        }
        let session = Session {
            user: name.to_owned(),
            csrf: secret(),
            expires_at: now + SESSION_S,
            password_digest: digest(hash?),
        };
        let id = secret();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.expires_at > now);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(digest(&id), session.clone());
        Some((id, session))
    }

    /// Takes back the sessions kept in the store, but those expired or of
    /// a user whose password changed or who is gone.
    pub(crate) fn restore(&self, store: &Store, now: UnixSecs) {
        let kept: HashMap<Digest, Session> = match store.kept_sessions() {
            Ok(Some(value)) => serde_json::from_slice(&value).unwrap_or_default(),
            _ => HashMap::new(),
        };
        let rules = self.rules();
        let valid = kept
            .into_iter()
            .filter(|(_, s)| s.expires_at > now && rules.keeps(s));
        self.sessions.lock().extend(valid);
    }

    /// Keeps the sessions in the store (after a login or a logout; blocks
    /// on the disk).
    pub(crate) fn keep(&self, store: &Store) {
        let _one_at_a_time = self.keeping.lock();
        let value = {
            let sessions = self.sessions.lock();
            serde_json::to_vec(&*sessions).unwrap_or_default()
        };
        if let Err(err) = store.keep_sessions(&value) {
            tracing::warn!(%err, "cannot keep the sessions: a restart logs out");
        }
    }

    /// Takes one of `name`'s attempts before its password is checked, or
    /// says there is none left in the window. Taken first and counted as a
    /// failure until [`Auth::logged_in`] says otherwise, so that 40 guesses
    /// at once get 5 checks, not 40.
    pub(crate) fn take_attempt(&self, name: &str, now: UnixSecs) -> bool {
        let mut failures = self.failures.lock();
        if let Some(entry) = failures.get_mut(name) {
            if entry.1 + LOGIN_WINDOW_S <= now {
                *entry = (0, now);
            }
            if entry.0 >= MAX_FAILED_LOGINS {
                return false;
            }
            entry.0 += 1;
            return true;
        }
        if failures.len() >= MAX_FAILURE_NAMES {
            failures.retain(|_, (_, since)| *since + LOGIN_WINDOW_S > now);
        }
        // Still full of names tried within the window: the oldest goes
        // (the map's memory is bounded; a name is at most MAX_NAME_BYTES).
        if failures.len() >= MAX_FAILURE_NAMES {
            if let Some(oldest) = failures
                .iter()
                .min_by_key(|(_, (_, since))| *since)
                .map(|(name, _)| name.clone())
            {
                failures.remove(&oldest);
            }
        }
        failures.insert(name.to_owned(), (1, now));
        true
    }

    /// A login succeeded: its name's failures are forgotten.
    pub(crate) fn logged_in(&self, name: &str) {
        let mut failures = self.failures.lock();
        failures.remove(name);
    }

    /// A permit to check a password (argon2 takes ~19 MiB and tens of ms
    /// a check): one at a time (a core is left for everything else), the
    /// rest wait a little, then are told to come back.
    pub(crate) async fn password_check(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::time::timeout(PASSWORD_CHECK_WAIT, self.checks.acquire())
            .await
            .ok()?
            .ok()
    }

    /// Ends a session; true if there was one.
    pub(crate) fn logout(&self, id: &str) -> bool {
        let mut sessions = self.sessions.lock();
        sessions.remove(&digest(id)).is_some()
    }

    /// The session a cookie value names.
    pub(crate) fn session(&self, id: &str, now: UnixSecs) -> Option<Session> {
        let sessions = self.sessions.lock();
        sessions
            .get(&digest(id))
            .filter(|s| s.expires_at > now)
            .cloned()
    }
}

/// Constant-time equality (for equal lengths; lengths are not secret).
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name` in a request.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value for a session (`Secure` when `secure`).
pub(crate) fn session_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_S}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether the client reached us over TLS (through a proxy that says so).
pub(crate) fn behind_tls(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// What a request is, for the rules above.
fn changes_something(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && path != "/login"
        && !sends_alerts(method, path)
        && !is_action_link(path)
        && !path.starts_with("/ping/")
}

/// An action link (`/a/<token>`): the signed token is the authority, for
/// its person and alert alone (`link.rs`).
fn is_action_link(path: &str) -> bool {
    path.strip_prefix("/a/")
        .is_some_and(|token| !token.is_empty() && !token.contains('/'))
}

/// Ingest: alerts sent over HTTP, as a datagram sends them.
fn sends_alerts(method: &Method, path: &str) -> bool {
    *method == Method::POST && matches!(path, "/events" | "/events/" | "/api/v2/alerts")
}

/// Paths anybody may read even when reading needs a login.
fn always_open(path: &str) -> bool {
    matches!(
        path,
        "/health" | "/login" | "/static/page.css" | "/static/page.js"
    ) || is_action_link(path)
        || path.starts_with("/ping/")
}

/// The rules, as middleware: finds the principal, refuses what it may not
/// do, and adds the security headers to every answer.
pub(crate) async fn guard(State(http): Shared, req: Request, next: Next) -> Response {
    let mut response = match check(&http, req).await {
        Ok(req) => next.run(req).await,
        Err(Refused::Error(status, why)) => ApiError::new(status, why).into_response(),
        Err(Refused::Said(status, why)) => ApiError::new(status, why).into_response(),
        Err(Refused::ToLogin) => axum::response::Redirect::to("/login").into_response(),
    };
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

enum Refused {
    Error(StatusCode, &'static str),
    Said(StatusCode, String),
    ToLogin,
}

/// Who asks to change something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Token,
    /// A logged-in user, and whether the request carried the session's
    /// CSRF token (header, or a page form's `csrf` field).
    Session {
        csrf: bool,
    },
    Nobody,
}

/// Where a request comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A loopback client, not through a proxy.
    Local,
    /// Through a proxy (it says so in a header): from anywhere.
    Proxied,
    Remote,
}

fn origin(req: &Request) -> Origin {
    let loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| c.0.ip().to_canonical().is_loopback());
    if super::origin::proxied(req.headers()) {
        Origin::Proxied
    } else if loopback {
        Origin::Local
    } else {
        Origin::Remote
    }
}

/// The rule for changes.
fn may_change(
    caller: Caller,
    open: bool,
    origin: Origin,
) -> Result<(), (StatusCode, &'static str)> {
    match caller {
        Caller::Token => Ok(()),
        Caller::Session { csrf: true } => Ok(()),
        Caller::Session { csrf: false } => Err((
            StatusCode::FORBIDDEN,
            "the CSRF token is missing or wrong (X-CSRF-Token, or the form's csrf field: reload the page)",
        )),
        Caller::Nobody if open && origin == Origin::Local => Ok(()),
        Caller::Nobody if open && origin == Origin::Proxied => Err((
            StatusCode::UNAUTHORIZED,
            "this request came through a proxy, so it is not local: configure a [[http.user]] \
             or [[http.token]] to act through it",
        )),
        Caller::Nobody if open => Err((
            StatusCode::UNAUTHORIZED,
            "changes are allowed from loopback only until a [[http.user]] or [[http.token]] is configured",
        )),
        Caller::Nobody => Err((
            StatusCode::UNAUTHORIZED,
            "log in, or send Authorization: Bearer <token>",
        )),
    }
}

async fn check(http: &super::Http, mut req: Request) -> Result<Request, Refused> {
    let auth = &http.auth;
    let now = http.clock.now();
    let path = req.uri().path().to_owned();
    // A name that is not ours: a page of another site rebound to us.
    if let Err(why) = http.live().hosts.allowed(req.headers()) {
        return Err(Refused::Said(StatusCode::MISDIRECTED_REQUEST, why));
    }
    // Nothing is sent or changed by a page of another site, whoever the
    // browser is logged in as.
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        if let Some(why) = super::origin::cross_site(req.headers()) {
            return Err(Refused::Error(StatusCode::FORBIDDEN, why));
        }
    }
    let (principal, session, scopes) = who(auth, req.headers(), now)?;
    if sends_alerts(req.method(), &path)
        && auth.ingest_requires_token()
        && !scopes.contains(&TokenScope::Ingest)
    {
        return Err(Refused::Error(
            StatusCode::UNAUTHORIZED,
            "sending alerts over HTTP needs Authorization: Bearer <token> with the \"ingest\" scope (http.ingest_requires_token)",
        ));
    }
    if changes_something(req.method(), &path) {
        let caller = match (&principal, &session) {
            (Some(_), None) if !scopes.contains(&TokenScope::Act) => {
                return Err(Refused::Error(
                    StatusCode::FORBIDDEN,
                    "this token may only send alerts (its scopes lack \"act\")",
                ))
            }
            (Some(_), None) => Caller::Token,
            (Some(_), Some(s)) => {
                let (given, whole) = csrf_given(req, http.live().max_body_bytes).await?;
                req = whole;
                Caller::Session {
                    csrf: given.is_some_and(|given| same(&given, &s.csrf)),
                }
            }
            _ => Caller::Nobody,
        };
        may_change(caller, auth.is_open(), origin(&req))
            .map_err(|(s, why)| Refused::Error(s, why))?;
        // Open mode trusts this machine, not every page its browser shows:
        // a POST (the one change another site's page can send without
        // asking first) is JSON, which such a page cannot send unasked, or
        // the page's own form.
        if caller == Caller::Nobody
            && *req.method() == Method::POST
            && !super::origin::is_json(req.headers())
            && !super::origin::same_origin(req.headers())
        {
            return Err(Refused::Error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a change without a token or login must be JSON (Content-Type: application/json)",
            ));
        }
    } else if auth.read_requires_login() && principal.is_none() && !always_open(&path) {
        if path.starts_with("/api/") || path == "/metrics" {
            return Err(Refused::Error(
                StatusCode::UNAUTHORIZED,
                "log in, or send Authorization: Bearer <token>",
            ));
        }
        return Err(Refused::ToLogin);
    }
    req.extensions_mut().insert(Principal(principal));
    if let Some(s) = session {
        req.extensions_mut().insert(s);
    }
    Ok(req)
}

/// Who asks: a token's name and scopes, or a logged-in user and their
/// session, or nobody. A token that is not valid is refused.
type Asking = (Option<String>, Option<Session>, Vec<TokenScope>);

fn who(auth: &Auth, headers: &axum::http::HeaderMap, now: UnixSecs) -> Result<Asking, Refused> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(given) = bearer {
        return match auth.token(given) {
            Some((name, scopes)) => Ok((Some(name), None, scopes)),
            None => Err(Refused::Error(
                StatusCode::UNAUTHORIZED,
                "the token is not valid",
            )),
        };
    }
    Ok(
        match cookie(headers, COOKIE).and_then(|id| auth.session(id, now)) {
            Some(s) => (Some(s.user.clone()), Some(s), Vec::new()),
            None => (None, None, Vec::new()),
        },
    )
}

/// The CSRF token a change carries: the `X-CSRF-Token` header, else the
/// `csrf` field of a form body (read here, up to `limit` bytes, and put
/// back for the handler). Every change by a session passes this one check,
/// API and page forms alike.
async fn csrf_given(req: Request, limit: usize) -> Result<(Option<String>, Request), Refused> {
    if let Some(header) = req.headers().get("x-csrf-token") {
        let given = header.to_str().ok().map(str::to_owned);
        return Ok((given, req));
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok((None, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Refused::Error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the form is larger than http.max_body_bytes",
        )
    })?;
    let given = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    Ok((
        given,
        Request::from_parts(parts, axum::body::Body::from(bytes)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let config = HttpConfig {
            users: vec![crate::config::HttpUser {
                name: "alice".into(),
                password_hash: hash,
            }],
            ..HttpConfig::default()
        };
        let auth = Auth::new(&config);
        assert!(auth.login("alice", "wrong", 0).is_none());
        assert!(auth.login("bob", "correct horse", 0).is_none());
        let (id, session) = auth.login("alice", "correct horse", 0).unwrap();
        assert_eq!(auth.session(&id, 10).unwrap().user, "alice");
        assert_eq!(session.csrf.len(), 64);
        assert!(auth.session(&id, SESSION_S + 1).is_none(), "expired");
        // One character off, or a prefix: no session, and no logout.
        let mut forged = id.clone();
        let last = if forged.ends_with('0') { "1" } else { "0" };
        forged.replace_range(forged.len() - 1.., last);
        assert!(auth.session(&forged, 10).is_none());
        assert!(auth.session(&id[..16], 10).is_none());
        assert!(!auth.logout(&forged));
        assert!(auth.session(&id, 10).is_some());
        assert!(auth.logout(&id));
        assert!(auth.session(&id, 10).is_none());
    }

    #[test]
    fn kept_sessions_come_back_unless_expired_or_the_password_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, Default::default()).unwrap();
        let user = |name: &str, password: &str| crate::config::HttpUser {
            name: name.into(),
            password_hash: hash_password(password).unwrap(),
        };
        let (alice, bob) = (user("alice", "correct horse"), user("bob", "battery"));
        let config = HttpConfig {
            users: vec![alice.clone(), bob.clone()],
            ..HttpConfig::default()
        };
        let before = Auth::new(&config);
        let (a, _) = before.login("alice", "correct horse", 0).unwrap();
        let (b, _) = before.login("bob", "battery", 0).unwrap();
        before.keep(&store);
        // The cookie values are not in the store.
        let kept = String::from_utf8(store.kept_sessions().unwrap().unwrap()).unwrap();
        assert!(!kept.contains(&a) && !kept.contains(&b), "{kept}");
        // Restarted with the same users: both sessions hold.
        let after = Auth::new(&config);
        after.restore(&store, 10);
        assert_eq!(after.session(&a, 10).unwrap().user, "alice");
        assert_eq!(after.session(&b, 10).unwrap().user, "bob");
        // Bob's password changed, alice's the same: only hers holds.
        let changed = HttpConfig {
            users: vec![alice, user("bob", "new password")],
            ..HttpConfig::default()
        };
        let after = Auth::new(&changed);
        after.restore(&store, 10);
        assert!(after.session(&a, 10).is_some());
        assert!(after.session(&b, 10).is_none());
        // Past their end: none.
        let late = Auth::new(&config);
        late.restore(&store, SESSION_S + 1);
        assert!(late.session(&a, 10).is_none());
    }

    #[test]
    fn failed_logins_are_limited_per_name_and_window() {
        let auth = Auth::default();
        for _ in 0..MAX_FAILED_LOGINS {
            assert!(auth.take_attempt("alice", 100));
        }
        assert!(!auth.take_attempt("alice", 101));
        assert!(auth.take_attempt("bob", 101), "per name");
        assert!(
            auth.take_attempt("alice", 100 + LOGIN_WINDOW_S),
            "the window passes"
        );
        auth.logged_in("alice");
        for _ in 0..MAX_FAILED_LOGINS {
            assert!(auth.take_attempt("alice", 100 + LOGIN_WINDOW_S));
        }
    }

    #[test]
    fn attempts_are_taken_before_the_check_so_a_race_gets_no_more() {
        let auth = std::sync::Arc::new(Auth::default());
        let taken: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..40)
                .map(|_| scope.spawn(|| auth.take_attempt("alice", 100)))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(taken, MAX_FAILED_LOGINS as usize);
    }

    #[test]
    fn the_failure_map_is_bounded() {
        let auth = Auth::default();
        for i in 0..MAX_FAILURE_NAMES + 50 {
            // Each a second after the last, all within the window.
            let now = 1_000_000 + i as u64 / 100;
            assert!(auth.take_attempt(&format!("name{i}"), now));
        }
        let failures = auth.failures.lock();
        assert_eq!(failures.len(), MAX_FAILURE_NAMES);
        // 50 of the oldest second's 100 went, and nobody newer.
        let gone = (0..100)
            .filter(|i| !failures.contains_key(&format!("name{i}")))
            .count();
        assert_eq!(gone, 50, "the oldest went first");
    }

    #[test]
    fn tokens_are_found_by_value() {
        let config = HttpConfig {
            tokens: vec![crate::config::HttpToken {
                name: "ci".into(),
                token: "0123456789abcdef".into(),
                scopes: vec![TokenScope::Ingest],
            }],
            ..HttpConfig::default()
        };
        let auth = Auth::new(&config);
        assert_eq!(
            auth.token("0123456789abcdef"),
            Some(("ci".to_owned(), vec![TokenScope::Ingest]))
        );
        assert_eq!(auth.token("0123456789abcdeX"), None);
        assert_eq!(auth.token(""), None);
        assert!(!auth.is_open());
    }

    #[test]
    fn who_may_change_what() {
        let session = |csrf| Caller::Session { csrf };
        use Origin::*;
        assert!(may_change(Caller::Token, false, Remote).is_ok());
        assert!(may_change(session(true), false, Remote).is_ok());
        assert_eq!(
            may_change(session(false), false, Local).unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        // Nothing configured: loopback only, and not through a proxy.
        assert!(may_change(Caller::Nobody, true, Local).is_ok());
        for origin in [Remote, Proxied] {
            assert_eq!(
                may_change(Caller::Nobody, true, origin).unwrap_err().0,
                StatusCode::UNAUTHORIZED
            );
        }
        assert!(may_change(Caller::Nobody, true, Proxied)
            .unwrap_err()
            .1
            .contains("[[http.token]]"));
        // Something configured: never anonymous, loopback or not.
        assert_eq!(
            may_change(Caller::Nobody, false, Local).unwrap_err().0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn only_changes_need_rights() {
        assert!(changes_something(
            &Method::POST,
            "/api/alerts/a/b/acknowledge"
        ));
        assert!(!changes_something(&Method::POST, "/login"));
        assert!(!changes_something(&Method::POST, "/events"));
        assert!(!changes_something(&Method::GET, "/api/alerts"));
    }
}
