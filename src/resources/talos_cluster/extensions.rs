//! System extensions and extra kernel arguments (issue 20): `system_extensions`, `extra_kernel_args` and
//! `image_factory` become an Image Factory schematic whose installer image the nodes install
//! ([`crate::talos::schematic`]). The image name is known at plan (the schematic ID is computed offline), so a
//! change of extensions plans as a change of the installer image and rolls the existing upgrade path, node by
//! node. Before a node installs or upgrades to that image, the apply registers the schematic with the factory
//! ([`crate::talos::factory::register`]), which serves images only for schematics it stores.

use std::time::Duration;

use super::model::{model, string_list, Model};
use crate::cty::{AttributePath, Value};
use crate::framework::{Context, Diagnostic, Diagnostics};
use crate::talos::contract::Contract;
use crate::talos::factory;
use crate::talos::schematic::{self, Schematic};

/// How long one registration request may take.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);

/// The schematic the configuration asks for: `None` without extensions and kernel arguments (the nodes install
/// `install_image`, or the contract's default installer), or while an element is unknown or invalid.
pub fn schematic_of(value: &Value) -> Option<Schematic> {
    let extensions = string_list(value.get("system_extensions"));
    let args = string_list(value.get("extra_kernel_args"));
    if extensions.is_empty() && args.is_empty() {
        return None;
    }
    Schematic::new(extensions, args).ok()
}

/// The factory URL (`image_factory`, default [`schematic::DEFAULT_FACTORY`]).
pub fn factory_of(value: &Value) -> String {
    value
        .get("image_factory")
        .as_str()
        .unwrap_or(schematic::DEFAULT_FACTORY)
        .to_string()
}

/// The factory installer image of `schematic` for the Talos release the contract pins.
pub fn installer_image(factory: &str, schematic: &Schematic, contract: Contract) -> String {
    let release =
        crate::talos::ops::image_tag(contract.default_install_image()).unwrap_or("latest");
    schematic::installer_image(factory, &schematic.id(), release)
}

/// Plan-time checks: each extension name and kernel argument (the first refused one, at its attribute), the
/// factory URL, and that `install_image` is not set as well (the schematic decides the image).
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let attr = AttributePath::attr;
    for (name, is_args) in [("system_extensions", false), ("extra_kernel_args", true)] {
        for (i, v) in config.get(name).as_list().unwrap_or(&[]).iter().enumerate() {
            let Some(text) = v.as_str() else { continue };
            let checked = if is_args {
                Schematic::new(Vec::<String>::new(), [text])
            } else {
                Schematic::new([text], Vec::<String>::new())
            };
            if let Err(e) = checked {
                // A set has no element index in Terraform's paths: point at the attribute.
                let path = if is_args {
                    attr(name).join_index(i)
                } else {
                    attr(name)
                };
                diags.error_at(path, "Invalid schematic entry", e.to_string());
            }
        }
    }
    if let Some(url) = config.get("image_factory").as_str() {
        if let Err(e) = factory::check_url(url) {
            diags.error_at(
                attr("image_factory"),
                "Invalid image factory",
                e.to_string(),
            );
        }
    }
    // Only known values conflict (module variables are unknown while `terraform validate` runs).
    let customized = ["system_extensions", "extra_kernel_args"]
        .iter()
        .any(|n| config.get(n).as_list().is_some_and(|l| !l.is_empty()));
    if customized && config.get("install_image").as_str().is_some() {
        diags.error_at(
            attr("install_image"),
            "install_image conflicts with the schematic",
            "With system_extensions or extra_kernel_args the nodes install the Image Factory's installer of that \
             schematic for the release of talos_version; remove install_image (or the schematic).",
        );
    }
}

/// Registers the schematic with the factory when a node is about to install or upgrade to its image: new nodes
/// (`installs`), or an installer image that differs from the prior state's.
///
/// # Errors
/// The factory refused, could not be reached, or answered another ID (diagnostic on `system_extensions`).
pub async fn register_if_needed(
    ctx: &Context,
    m: &Model,
    prior: Option<&Value>,
    installs: bool,
) -> Result<(), Diagnostics> {
    let Some(schematic) = &m.schematic else {
        return Ok(());
    };
    let changed = prior.is_none_or(|p| model(p).cluster.install_image != m.cluster.install_image);
    if !installs && !changed {
        return Ok(());
    }
    let outcome = ctx
        .run(
            "registering the schematic with the image factory",
            factory::register(&m.image_factory, schematic, REGISTER_TIMEOUT),
        )
        .await?;
    outcome.map_err(|e| {
        Diagnostics::from(
            Diagnostic::error("Cannot register the schematic", e.to_string())
                .at(AttributePath::attr("system_extensions")),
        )
    })
}
