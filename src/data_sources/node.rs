//! Reaching the one Talos node a hardware data source reads: in maintenance mode without a client certificate
//! (talosctl `--insecure`, optionally pinning the node's certificate), or in secure mode with a talosconfig.

use std::time::Duration;

use std::future::Future;

use crate::cty::{AttributePath, Value};
use crate::framework::{Attribute, Block, Context, Diagnostic, Diagnostics};
use crate::talos::client::tls::SpkiFingerprint;
use crate::talos::client::{split_address, ClientError, Security, TalosClient};
use crate::talos::clientconfig::parse_talosconfig;

/// Bound of each Talos API call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A data source block described by `description`, with the attributes that say which node to read and how:
/// `node`, `cert_fingerprint`, `talosconfig`.
pub fn block(description: &str) -> Block {
    attributes()
        .into_iter()
        .fold(Block::new(description), Block::attribute)
}

fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::string("node").required().description(
            "Talos API address of the node, `host` or `host:port` (port 50000 by default); in maintenance mode, the \
             address the machine got from DHCP, as shown on its console.",
        ),
        Attribute::string("cert_fingerprint").optional().description(
            "SPKI SHA-256 fingerprint (base64) of the node's maintenance-mode certificate, as `talosctl \
             --cert-fingerprint` takes it: any other certificate fails the read.",
        ),
        Attribute::string("talosconfig").optional().sensitive().description(
            "talosctl config to read a node that has left maintenance mode (mutual TLS with its certificate, e.g. \
             `talosconfig` of `vixens_talos_cluster`). Unset: the node is read in maintenance mode, without a client \
             certificate.",
        ),
    ]
}

/// Checks the attributes of [`attributes`] (values may be unknown).
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    if let Some(node) = config.get("node").as_str() {
        if split_address(node).is_err() {
            diags.error_at(
                AttributePath::attr("node"),
                "Invalid node address",
                "Give `host` or `host:port`, e.g. `192.168.1.50` or `[fd00::5]:50000`.",
            );
        }
    }
    if let Some(pin) = config.get("cert_fingerprint").as_str() {
        if let Err(e) = SpkiFingerprint::parse(pin) {
            diags.error_at(
                AttributePath::attr("cert_fingerprint"),
                "Invalid certificate fingerprint",
                e,
            );
        }
    }
    if let Some(text) = config.get("talosconfig").as_str() {
        if let Err(e) = parse_talosconfig(text) {
            diags.error_at(AttributePath::attr("talosconfig"), "Invalid talosconfig", e);
        }
    }
}

/// Reads `what` (e.g. "disks") from the node of `config` with `read`, as a step of `ctx`.
///
/// # Errors
/// A diagnostic at the attribute at fault: the connection settings, or `node` when the read fails.
pub async fn read<T, F, Fut>(
    ctx: &Context,
    config: &Value,
    what: &str,
    read: F,
) -> Result<T, Diagnostics>
where
    F: FnOnce(TalosClient) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let client = client(config)?;
    let address = client.address().to_string();
    let step = format!("reading the {what} of node {address}");
    let out = ctx
        .run(&step, read(client))
        .await?
        .map_err(|e| read_error(config, what, &e))?;
    Ok(out)
}

fn client(config: &Value) -> Result<TalosClient, Diagnostic> {
    let node = config.get("node").as_str().unwrap_or_default();
    let security = if let Some(text) = config.get("talosconfig").as_str() {
        let ctx = parse_talosconfig(text).map_err(|e| {
            Diagnostic::error("Invalid talosconfig", e).at(AttributePath::attr("talosconfig"))
        })?;
        Security::Secure {
            ca_crt: ctx.ca_crt,
            client: ctx.client,
        }
    } else if let Some(pin) = config.get("cert_fingerprint").as_str() {
        let pin = SpkiFingerprint::parse(pin).map_err(|e| {
            Diagnostic::error("Invalid certificate fingerprint", e)
                .at(AttributePath::attr("cert_fingerprint"))
        })?;
        Security::MaintenancePinned(pin)
    } else {
        Security::Maintenance
    };
    TalosClient::connect(node, &security, CALL_TIMEOUT).map_err(|e| {
        Diagnostic::error("Cannot reach the node", e.to_string()).at(AttributePath::attr("node"))
    })
}

/// The diagnostic for a failed read of `what` (e.g. "disks") from the node of `config`.
fn read_error(config: &Value, what: &str, e: &ClientError) -> Diagnostic {
    let hint = if config.get("talosconfig").is_null() && !e.is_fingerprint_mismatch() {
        " A node that has left maintenance mode asks for a client certificate: give `talosconfig` to read it."
    } else {
        ""
    };
    Diagnostic::error(
        format!("Cannot read the node's {what}"),
        format!("{e}.{hint}"),
    )
    .at(AttributePath::attr("node"))
}
