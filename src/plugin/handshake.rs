//! go-plugin's handshake (hashicorp/go-plugin `server.go`): the magic cookie check, protocol negotiation from
//! `PLUGIN_PROTOCOL_VERSIONS`, and the line printed on stdout that tells Terraform where to connect.

use base64::Engine as _;

/// Environment variable that carries the magic cookie (Terraform's `plugin.Handshake`).
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Terraform's magic cookie value.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's core protocol version (first field of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol versions this provider serves.
pub const SUPPORTED_PROTOCOLS: [u32; 2] = [5, 6];

/// Whether the environment carries Terraform's magic cookie.
pub fn cookie_ok(value: Option<&str>) -> bool {
    value == Some(MAGIC_COOKIE_VALUE)
}

/// The highest protocol in both `SUPPORTED_PROTOCOLS` and the client's comma-separated offer
/// (`PLUGIN_PROTOCOL_VERSIONS`, e.g. `"5,6"`). No offer means protocol 5 (the go-plugin default for Terraform's
/// older clients). `None` when there is no common version.
pub fn negotiate(offer: Option<&str>) -> Option<u32> {
    let Some(offer) = offer.filter(|s| !s.trim().is_empty()) else {
        return Some(5);
    };
    offer
        .split(',')
        .filter_map(|v| v.trim().parse::<u32>().ok())
        .filter(|v| SUPPORTED_PROTOCOLS.contains(v))
        .max()
}

/// The handshake line `1|<proto>|tcp|<addr>|grpc|<cert>`: `cert` is the server certificate DER in standard
/// base64 without padding (go-plugin decodes with `RawStdEncoding`), empty when serving without TLS.
pub fn handshake_line(
    protocol: u32,
    addr: std::net::SocketAddr,
    server_cert_der: Option<&[u8]>,
) -> String {
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{protocol}|tcp|{addr}|grpc|{cert}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_highest_common() {
        assert_eq!(negotiate(Some("5,6")), Some(6));
        assert_eq!(negotiate(Some("5")), Some(5));
        assert_eq!(negotiate(Some(" 4 , 5 ")), Some(5));
        assert_eq!(negotiate(Some("7,8")), None);
        assert_eq!(negotiate(None), Some(5));
    }

    #[test]
    fn line_has_unpadded_base64() {
        let addr = "127.0.0.1:4242".parse().unwrap();
        let line = handshake_line(6, addr, Some(&[1, 2, 3, 4]));
        assert_eq!(line, "1|6|tcp|127.0.0.1:4242|grpc|AQIDBA");
        assert_eq!(
            handshake_line(5, addr, None),
            "1|5|tcp|127.0.0.1:4242|grpc|"
        );
        assert!(cookie_ok(Some(MAGIC_COOKIE_VALUE)));
        assert!(!cookie_ok(Some("x")));
        assert!(!cookie_ok(None));
    }
}
