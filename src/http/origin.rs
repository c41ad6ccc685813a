//! Where a request comes from, as far as a browser tells: its `Host`, its
//! `Origin` and `Sec-Fetch-Site`, and whether a proxy stands between.
//!
//! A web page the operator visits can make the browser send a form or a
//! `fetch` to mauved on 127.0.0.1; a name the attacker controls can be made
//! to resolve to 127.0.0.1 (DNS rebinding). What stops both:
//! - a `Host` must be an address, `localhost`, this machine's name, the host
//!   of `oncall.base_url` or one of `http.hosts` (421 otherwise);
//! - a request that changes or sends anything is refused when the browser
//!   says it comes from another site (`Sec-Fetch-Site`, or an `Origin`
//!   that is not this `Host`);
//! - in open mode (no user, no token) a change must be JSON (which a page
//!   of another site cannot send without asking first) or a form that the
//!   browser says comes from this very site (the page's own forms).

use axum::http::{header, HeaderMap};

/// Names this server answers to besides addresses and `localhost`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hosts {
    names: Vec<String>,
}

impl Hosts {
    /// This machine's name, `oncall.base_url`'s host and `http.hosts`.
    pub(crate) fn new(config: &crate::config::Config) -> Hosts {
        let mut names: Vec<String> = config
            .http
            .hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if let Some(url) = &config.oncall.base_url {
            if let Some(host) = url_host(url) {
                names.push(host);
            }
        }
        if let Ok(name) = gethostname::gethostname().into_string() {
            names.push(name.to_ascii_lowercase());
        }
        Hosts { names }
    }

    /// Whether a `Host` header names this server. No header (HTTP/1.0) is
    /// taken as this server.
    pub(crate) fn allowed(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(host) = headers.get(header::HOST) else {
            return Ok(());
        };
        let Some(name) = host.to_str().ok().map(host_name) else {
            return Err("the Host header is not text".into());
        };
        let name = name.to_ascii_lowercase();
        // An address cannot be rebound: a page at http://10.0.0.5/ is that
        // address's own origin.
        if name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.contains(&name)
        {
            return Ok(());
        }
        Err(format!(
            "Host {} is not a name of this server: add it to http.hosts (or set oncall.base_url)",
            crate::untrusted::quoted_short(&name)
        ))
    }
}

/// The host of `Host` without its port; an IPv6 address without brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
}

/// The host of an `http(s)://` URL, lowercased.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(host_name(authority).to_ascii_lowercase())
}

/// Why a browser's request is from another site, if it says so: its
/// `Sec-Fetch-Site`, or an `Origin` whose host and port are not this
/// request's `Host`.
pub(crate) fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return Some("the browser says this request comes from another site (Sec-Fetch-Site)");
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, authority)| Some(authority) == host);
    (!same).then_some("the request's Origin is another site")
}

/// Whether the body is declared JSON.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/json")
                || (v.len() > 5 && v[v.len() - 5..].eq_ignore_ascii_case("+json"))
        })
}

/// Whether the browser says the request comes from this very site.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    fetch_site == Some("same-origin")
        || (headers.contains_key(header::ORIGIN) && cross_site(headers).is_none())
}

/// Whether a proxy stands between the client and us: any header a proxy
/// adds to say who the client is, or that it passed through.
pub(crate) fn proxied(headers: &HeaderMap) -> bool {
    headers.keys().any(|name| {
        let name = name.as_str();
        matches!(
            name,
            "forwarded"
                | "via"
                | "x-real-ip"
                | "client-ip"
                | "true-client-ip"
                | "cf-connecting-ip"
                | "fastly-client-ip"
                | "x-client-ip"
                | "x-cluster-client-ip"
                | "x-original-forwarded-for"
                | "x-proxyuser-ip"
        ) || name.starts_with("x-forwarded-")
            || name.ends_with("-client-ip")
            || name.ends_with("-connecting-ip")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn hosts_are_addresses_local_names_and_configured_ones() {
        let hosts = Hosts {
            names: vec!["mauve.example.com".into()],
        };
        for ok in [
            "127.0.0.1:1288",
            "[::1]:1288",
            "10.1.2.3",
            "localhost:1288",
            "MAUVE.example.com",
            "mauve.example.com:443",
        ] {
            assert!(hosts.allowed(&headers(&[("host", ok)])).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example:1288",
            "rebind.attacker.test",
            "mauve.example.com.evil",
        ] {
            assert!(hosts.allowed(&headers(&[("host", bad)])).is_err(), "{bad}");
        }
        assert!(hosts.allowed(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn the_base_urls_host_is_read() {
        assert_eq!(
            url_host("https://user:pw@Mauve.example.com:8443/x").as_deref(),
            Some("mauve.example.com")
        );
        assert_eq!(url_host("http://[::1]:1288/").as_deref(), Some("::1"));
    }

    #[test]
    fn other_sites_are_told_apart() {
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])).is_some());
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:1288"),
            ("origin", "https://evil.example")
        ]))
        .is_some());
        assert!(cross_site(&headers(&[("host", "127.0.0.1:1288"), ("origin", "null")])).is_some());
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:1288"),
            ("origin", "http://127.0.0.1:1288"),
            ("sec-fetch-site", "same-origin")
        ]))
        .is_none());
        // curl and scripts send neither.
        assert!(cross_site(&headers(&[("host", "127.0.0.1:1288")])).is_none());
    }

    #[test]
    fn any_proxy_header_means_a_proxy() {
        for name in [
            "via",
            "x-forwarded-host",
            "x-client-ip",
            "true-client-ip",
            "cf-connecting-ip",
            "forwarded",
            "x-forwarded-for",
        ] {
            assert!(proxied(&headers(&[(name, "1.2.3.4")])), "{name}");
        }
        assert!(!proxied(&headers(&[("host", "x"), ("user-agent", "curl")])));
    }

    #[test]
    fn json_is_told_by_its_type() {
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(is_json(&headers(&[(
            "content-type",
            "application/merge-patch+json"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(!is_json(&HeaderMap::new()));
    }
}
