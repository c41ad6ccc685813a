//! Value types the configuration is made of, parsed as the file is read:
//! the rest of the daemon gets them checked and never parses them again.

use std::net::{IpAddr, SocketAddr};

/// mauve's port, on both sides.
pub const DEFAULT_PORT: u16 = 32741;

/// An address range (`10.0.0.0/8`, `::1/128`, or one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

/// Read from a string such as `"10.0.0.0/8"`; a bad one is an error at
/// its key (`listen.allow_sources`, element 1: …) as the file is read.
impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(d)?;
        Cidr::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("{text:?} is not an address range such as \"10.0.0.0/8\" or \"::1\"");
        let (addr, bits) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (text, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(bits) => bits
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&b| b <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { net, bits })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        in_cidr(ip.to_canonical(), self.net, self.bits)
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let prefix = |a: u128, b: u128, width: u32| {
        let shift = width - u32::from(bits);
        shift >= width || (a >> shift) == (b >> shift)
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            prefix(u128::from(u32::from(ip)), u128::from(u32::from(net)), 32)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => prefix(u128::from(ip), u128::from(net), 128),
        _ => false,
    }
}

/// `host:port` (an SMTP server), the port a number; `[v6]:port` too.
pub fn split_host_port(server: &str) -> Option<(&str, u16)> {
    let (host, port) = server.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some(())?;
    Some((host, port.parse().ok()?))
}

/// Where to send mauve packets (`mauvesend`, `[heartbeat]`): an address,
/// or a host name with or without a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Addr(SocketAddr),
    Host { name: String, port: Option<u16> },
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Addr(addr) => write!(f, "{addr}"),
            Destination::Host { name, port: None } => write!(f, "{name}"),
            Destination::Host {
                name,
                port: Some(port),
            } => write!(f, "{name}:{port}"),
        }
    }
}

/// Parses `ip`, `ip:port`, `[v6]`, `[v6]:port`, `host` or `host:port`.
pub fn parse_destination(text: &str) -> Result<Destination, String> {
    let bad = || format!("Bad destination: {text:?}");
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Destination::Addr(addr));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Destination::Addr(SocketAddr::new(ip, DEFAULT_PORT)));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let ip: IpAddr = inner.parse().map_err(|_| bad())?;
        return Ok(Destination::Addr(SocketAddr::new(ip, DEFAULT_PORT)));
    }
    let (name, port) = match text.rsplit_once(':') {
        Some((name, port)) => (name, Some(port.parse::<u16>().map_err(|_| bad())?)),
        None => (text, None),
    };
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(bad());
    }
    Ok(Destination::Host {
        name: name.to_owned(),
        port,
    })
}

/// Read from a string as [`parse_destination`] reads it.
impl<'de> serde::Deserialize<'de> for Destination {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Destination, D::Error> {
        let text = String::deserialize(d)?;
        parse_destination(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_the_addresses_inside() {
        let range = |t: &str| Cidr::parse(t).unwrap();
        assert!(range("10.0.0.0/8").contains("10.9.8.7".parse().unwrap()));
        assert!(!range("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(
            range("10.0.0.0/8").contains("::ffff:10.1.1.1".parse().unwrap()),
            "mapped v4"
        );
        assert!(range("::1").contains("::1".parse().unwrap()));
        assert!(range("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "web1", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn servers_are_host_and_port() {
        assert_eq!(split_host_port("127.0.0.1:25"), Some(("127.0.0.1", 25)));
        assert_eq!(split_host_port("[::1]:2525"), Some(("::1", 2525)));
        assert_eq!(split_host_port("mail.example.com"), None);
        assert_eq!(split_host_port(":25"), None);
    }
}
