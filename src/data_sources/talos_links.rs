//! `vixens_talos_links`: the network links of a Talos node, as `talosctl get links --insecure` lists them, so
//! that a node's `link` is chosen from data (by MAC address, say) instead of guessed.

use async_trait::async_trait;

use super::node;
use crate::cty::{Type, Value};
use crate::framework::{Attribute, Context, DataSource, Diagnostics, Schema};
use crate::talos::client::hardware::Link;

/// The data source.
#[derive(Debug, Default)]
pub struct TalosLinks;

fn link_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("type", Type::String),
        ("kind", Type::String),
        ("hardware_addr", Type::String),
        ("permanent_addr", Type::String),
        ("operational_state", Type::String),
        ("link_state", Type::Bool),
        ("mtu", Type::Number),
        ("driver", Type::String),
        ("speed_mbit", Type::Number),
    ])
}

/// The schema.
pub fn schema() -> Schema {
    let block = node::block(
        "The network links of a Talos node (the `LinkStatuses.net.talos.dev` resources, what `talosctl get links \
         --insecure` shows), read in maintenance mode without a client certificate, or with `talosconfig` once \
         configured. Pick a node's `link` from them, e.g. the wired port by MAC address: \
         `one([for l in data.vixens_talos_links.n.links : l.name if l.hardware_addr == \"aa:bb:cc:dd:ee:ff\"])`.",
    );
    Schema::new(block.attribute(
        Attribute::new("links", Type::list(link_type())).computed().description(
            "Links sorted by `name`: `name` (e.g. `enp3s0`), `type` (`ether`, `loopback`...), `kind` (`vlan`, \
             `bond`... empty for a physical port), `hardware_addr` and `permanent_addr` (MAC, `aa:bb:...`), \
             `operational_state` (`up`, `down`, `lowerLayerDown`...), `link_state` (carrier), `mtu`, `driver`, \
             `speed_mbit` (0 when unknown).",
        ),
    ))
}

fn link_value(l: &Link) -> Value {
    Value::object([
        ("name", Value::from(l.id.as_str())),
        ("type", Value::from(l.r#type.as_str())),
        ("kind", Value::from(l.kind.as_str())),
        ("hardware_addr", Value::from(l.hardware_addr.as_str())),
        ("permanent_addr", Value::from(l.permanent_addr.as_str())),
        (
            "operational_state",
            Value::from(l.operational_state.as_str()),
        ),
        ("link_state", Value::from(l.link_state)),
        ("mtu", Value::from(i64::from(l.mtu))),
        ("driver", Value::from(l.driver.as_str())),
        ("speed_mbit", Value::from(l.speed_mbit)),
    ])
}

#[async_trait]
impl DataSource for TalosLinks {
    fn type_name(&self) -> &'static str {
        "vixens_talos_links"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        node::validate(config, diags);
    }

    async fn read(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics> {
        let links = node::read(
            ctx,
            config,
            "links",
            |c| async move { c.link_statuses().await },
        )
        .await?;
        let mut out = config.clone();
        out.set("links", Value::List(links.iter().map(link_value).collect()));
        Ok(out)
    }
}
