# local: the dev topology (same names, roles, VLAN ids, pools, branch) on loopback, for vixens-emulator
# (emulator.yaml beside this file). Management VLAN 111 uses 127.0.111.0/24 because the provider connects to the
# node addresses and to the VIP; services VLAN 208 keeps the dev addresses, which are only ever values.
cluster_name       = "vixens-dev"
endpoint           = "https://127.0.111.160:6443"
talos_version      = "1.12"   # the emulator's nodes run Talos v1.12.0
kubernetes_version = "1.35.4" # Talos 1.12's default; inside Cilium 1.20's tested range (1.33 to 1.36)
management_vlan_id = 111
services_vlan_id   = 208
vip                = "127.0.111.160"

nodes = {
  obsy = {
    address      = "127.0.111.162"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["127.0.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["127.0.111.162/24"], gateway = "127.0.111.1" },
      { vlan_id = 208, addresses = ["192.168.208.162/24"], gateway = "" },
    ]
  }
  onyx = {
    address      = "127.0.111.163"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["127.0.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["127.0.111.163/24"], gateway = "127.0.111.1" },
      { vlan_id = 208, addresses = ["192.168.208.163/24"], gateway = "" },
    ]
  }
  opale = {
    address      = "127.0.111.164"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["127.0.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["127.0.111.164/24"], gateway = "127.0.111.1" },
      { vlan_id = 208, addresses = ["192.168.208.164/24"], gateway = "" },
    ]
  }
}

# LB IPAM pools: vixens_cilium creates them at bootstrap, so Traefik's Service gets its fixed address on Argo CD's
# first sync, then hands them to the GitOps tree's cilium-lb app, which must hold the same pools
# (apps/cilium-lb/overlays/<env>; tests/gitops.rs checks both copies are equal).
load_balancer_ip_pools = {
  assigned = { start = "192.168.208.70", stop = "192.168.208.79", service_selector = { "lb.vixens.io/pool" = "assigned" } } # fixed addresses (Traefik: 192.168.208.70)
  auto     = { start = "192.168.208.80", stop = "192.168.208.89", service_selector = {} }
}

gitops_repository_url = "https://github.com/vixens/vixens.git"
branch                = "dev"
gitops_path           = "examples/gitops/argocd/overlays/dev"

# The rehearsal installs the real Argo CD v3.5.1 manifest from ../shared: the provider reads the file (the state
# keeps its path and sha256, not its text) and checks it against the official v3.5.1 digest.
argocd_install_manifest_file   = "../../../../shared/fixtures/argocd/v3.5.1/install.yaml"
argocd_install_manifest_sha256 = "795a3a972224da6a7f9d32c3e946445f062b60fb46028476715affeb688236e3"
