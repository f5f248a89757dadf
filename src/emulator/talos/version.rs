//! The Talos release an emulated node runs, and what differs between the releases the emulator follows
//! (siderolabs/talos at v1.11.6, v1.12.11 and v1.13.9; a node of another patch of those minors behaves as that
//! minor's tag, a node of another minor as the nearest one).

/// A Talos release `vMAJOR.MINOR.PATCH` (a pre-release suffix is kept in the tag, ignored in comparisons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalosVersion {
    /// The tag as the node reports it (`v1.12.11`).
    pub tag: String,
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl TalosVersion {
    /// Parses `v1.12.11` or `1.12.11` (the tag is reported with a leading `v`); `None` when not a release tag.
    pub fn parse(text: &str) -> Option<TalosVersion> {
        let body = text.strip_prefix('v').unwrap_or(text);
        let mut parts = body.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = parts.next()?;
        let digits = patch.split(['-', '+']).next().unwrap_or("");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(TalosVersion {
            tag: format!("v{body}"),
            major,
            minor,
        })
    }

    /// This release is `major.minor` or later.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Up to 1.12 a node in maintenance mode runs the separate maintenance service
    /// (internal/app/maintenance/server.go@v1.12.11); from 1.13 apid serves maintenance mode itself (the file is
    /// gone at v1.13.9).
    pub fn has_maintenance_service(&self) -> bool {
        !self.at_least(1, 13)
    }

    /// How long the Talos API on port 50000 lets calls in flight finish when it stops in an orderly way (the
    /// config applied in maintenance mode, a reboot, a shutdown), before it cuts what is left: gRPC
    /// `GracefulStop` bounded by a timeout. Maintenance mode up to 1.12 is the maintenance service, 5 s
    /// (internal/app/machined/pkg/controllers/runtime/maintenance_service.go@v1.12.11 `shutdownServer`, same at
    /// v1.11.6); apid, which serves secure mode on every release and maintenance mode from 1.13, 10 s
    /// (internal/app/apid/main.go@v1.12.11 and @v1.11.6 on SIGTERM, internal/app/apid/service.go@v1.13.9
    /// `runService` when its context ends).
    pub fn api_stop_grace(&self, maintenance: bool) -> std::time::Duration {
        if maintenance && self.has_maintenance_service() {
            std::time::Duration::from_secs(5)
        } else {
            std::time::Duration::from_secs(10)
        }
    }

    /// Whether this release registers the machine config document `kind` (apiVersion v1alpha1), per the
    /// `registry.Register` calls under pkg/machinery/config/types at v1.11.6, v1.12.11 and v1.13.9.
    pub fn registers_kind(&self, kind: &str) -> bool {
        KINDS_1_11.contains(&kind)
            || (self.at_least(1, 12) && KINDS_1_12.contains(&kind))
            || (self.at_least(1, 13) && KINDS_1_13.contains(&kind))
    }
}

/// Document kinds registered at v1.11.6 (pkg/machinery/config/types/{block,hardware,network,runtime,security,
/// siderolink}@v1.11.6).
const KINDS_1_11: &[&str] = &[
    "ExistingVolumeConfig",
    "RawVolumeConfig",
    "SwapVolumeConfig",
    "UserVolumeConfig",
    "VolumeConfig",
    "ZswapConfig",
    "PCIDriverRebindConfig",
    "NetworkDefaultActionConfig",
    "EthernetConfig",
    "KubeSpanEndpointsConfig",
    "NetworkRuleConfig",
    "EventSinkConfig",
    "ExtensionServiceConfig",
    "KmsgLogConfig",
    "WatchdogTimerConfig",
    "TrustedRootsConfig",
    "SideroLinkConfig",
];

/// Kinds added by v1.12.11 (pkg/machinery/config/types/{cri,network,runtime}@v1.12.11).
const KINDS_1_12: &[&str] = &[
    "RegistryAuthConfig",
    "RegistryMirrorConfig",
    "RegistryTLSConfig",
    "BondConfig",
    "BridgeConfig",
    "DHCPv4Config",
    "DHCPv6Config",
    "DummyLinkConfig",
    "HCloudVIPConfig",
    "HostnameConfig",
    "Layer2VIPConfig",
    "LinkConfig",
    "LinkAliasConfig",
    "ResolverConfig",
    "StaticHostConfig",
    "TimeSyncConfig",
    "VLANConfig",
    "WireguardConfig",
    "OOMConfig",
];

/// Kinds added by v1.13.9 (pkg/machinery/config/types/{block,network,runtime,security}@v1.13.9).
const KINDS_1_13: &[&str] = &[
    "ExternalVolumeConfig",
    "BlackholeRouteConfig",
    "KubeSpanConfig",
    "RoutingRuleConfig",
    "TCPProbeConfig",
    "VRFConfig",
    "EnvironmentConfig",
    "ImageVerificationConfig",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_tags_only() {
        let v = TalosVersion::parse("v1.12.11").unwrap();
        assert_eq!((v.major, v.minor, v.tag.as_str()), (1, 12, "v1.12.11"));
        assert_eq!(
            TalosVersion::parse("1.13.0-beta.1").unwrap().tag,
            "v1.13.0-beta.1"
        );
        for bad in ["", "v1.12", "latest", "v1.x.2", "v1.12.x"] {
            assert!(TalosVersion::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn document_kinds_per_release() {
        let v111 = TalosVersion::parse("v1.11.6").unwrap();
        let v112 = TalosVersion::parse("v1.12.11").unwrap();
        let v113 = TalosVersion::parse("v1.13.9").unwrap();
        for kind in [
            "LinkConfig",
            "VLANConfig",
            "Layer2VIPConfig",
            "HostnameConfig",
        ] {
            assert!(!v111.registers_kind(kind), "{kind} on 1.11");
            assert!(
                v112.registers_kind(kind) && v113.registers_kind(kind),
                "{kind}"
            );
        }
        assert!(v111.registers_kind("SideroLinkConfig"));
        assert!(!v112.registers_kind("VRFConfig") && v113.registers_kind("VRFConfig"));
        assert!(!v113.registers_kind("NoSuchConfig"));
    }

    #[test]
    fn api_stop_grace_per_release() {
        let v = |s: &str| TalosVersion::parse(s).unwrap();
        for release in ["v1.11.6", "v1.12.11"] {
            assert_eq!(
                v(release).api_stop_grace(true),
                std::time::Duration::from_secs(5)
            );
            assert_eq!(
                v(release).api_stop_grace(false),
                std::time::Duration::from_secs(10)
            );
        }
        assert_eq!(
            v("v1.13.9").api_stop_grace(true),
            std::time::Duration::from_secs(10)
        );
        assert_eq!(
            v("v1.13.9").api_stop_grace(false),
            std::time::Duration::from_secs(10)
        );
    }

    #[test]
    fn maintenance_service_until_1_13() {
        assert!(TalosVersion::parse("v1.11.6")
            .unwrap()
            .has_maintenance_service());
        assert!(TalosVersion::parse("v1.12.11")
            .unwrap()
            .has_maintenance_service());
        assert!(!TalosVersion::parse("v1.13.9")
            .unwrap()
            .has_maintenance_service());
    }
}
