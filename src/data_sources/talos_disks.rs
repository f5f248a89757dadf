//! `vixens_talos_disks`: the disks of a Talos node, as `talosctl get disks --insecure` lists them, so that
//! `install_disk` is chosen from data instead of guessed.

use async_trait::async_trait;

use super::node;
use crate::cty::{Type, Value};
use crate::framework::{Attribute, Context, DataSource, Diagnostics, Schema};
use crate::talos::client::hardware::Disk;

/// The data source.
#[derive(Debug, Default)]
pub struct TalosDisks;

fn disk_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("dev_path", Type::String),
        ("size", Type::Number),
        ("pretty_size", Type::String),
        ("model", Type::String),
        ("serial", Type::String),
        ("wwid", Type::String),
        ("transport", Type::String),
        ("rotational", Type::Bool),
        ("readonly", Type::Bool),
        ("cdrom", Type::Bool),
    ])
}

/// The schema.
pub fn schema() -> Schema {
    let block = node::block(
        "The disks of a Talos node (the `Disks.block.talos.dev` resources, what `talosctl get disks --insecure` \
         shows), read in maintenance mode without a client certificate, or with `talosconfig` once configured. Pick \
         `install_disk` from them, e.g. the first non-rotational disk: \
         `[for d in data.vixens_talos_disks.n.disks : d.dev_path if !d.rotational && !d.cdrom][0]`.",
    );
    Schema::new(block.attribute(
        Attribute::new("disks", Type::list(disk_type())).computed().description(
            "Disks sorted by `id`: `id` (kernel name, e.g. `sda`), `dev_path` (`/dev/sda`), `size` (bytes), \
             `pretty_size` (e.g. `256 GB`), `model`, `serial`, `wwid`, `transport` (`sata`, `nvme`, `usb`, \
             `virtio`...), `rotational`, `readonly`, `cdrom`.",
        ),
    ))
}

fn disk_value(d: &Disk) -> Value {
    Value::object([
        ("id", Value::from(d.id.as_str())),
        ("dev_path", Value::from(d.dev_path.as_str())),
        (
            "size",
            Value::from(i64::try_from(d.size).unwrap_or(i64::MAX)),
        ),
        ("pretty_size", Value::from(d.pretty_size.as_str())),
        ("model", Value::from(d.model.as_str())),
        ("serial", Value::from(d.serial.as_str())),
        ("wwid", Value::from(d.wwid.as_str())),
        ("transport", Value::from(d.transport.as_str())),
        ("rotational", Value::from(d.rotational)),
        ("readonly", Value::from(d.readonly)),
        ("cdrom", Value::from(d.cdrom)),
    ])
}

#[async_trait]
impl DataSource for TalosDisks {
    fn type_name(&self) -> &'static str {
        "vixens_talos_disks"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        node::validate(config, diags);
    }

    async fn read(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics> {
        let disks = node::read(ctx, config, "disks", |c| async move {
            c.disks_resources().await
        })
        .await?;
        let mut out = config.clone();
        out.set("disks", Value::List(disks.iter().map(disk_value).collect()));
        Ok(out)
    }
}
