# dev: the homelab's first cluster (roadmap Phase 1). Management VLAN 111, services VLAN 208.
# Only ever validated and planned by the tests: no connection is made to these addresses.
cluster_name       = "vixens-dev"
endpoint           = "https://192.168.111.160:6443"
management_vlan_id = 111
services_vlan_id   = 208
vip                = "192.168.111.160"

nodes = {
  obsy = {
    address      = "192.168.111.162"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["192.168.111.162/24"], gateway = "192.168.111.1" },
      { vlan_id = 208, addresses = ["192.168.208.162/24"], gateway = "" },
    ]
  }
  onyx = {
    address      = "192.168.111.163"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["192.168.111.163/24"], gateway = "192.168.111.1" },
      { vlan_id = 208, addresses = ["192.168.208.163/24"], gateway = "" },
    ]
  }
  opale = {
    address      = "192.168.111.164"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["192.168.111.164/24"], gateway = "192.168.111.1" },
      { vlan_id = 208, addresses = ["192.168.208.164/24"], gateway = "" },
    ]
  }
}

# Sprint 1 bootstraps obsy alone (active_nodes = ["obsy"]); onyx and opale join in Sprint 3.
active_nodes = ["obsy", "onyx", "opale"]

# LB IPAM pools: vixens_cilium creates them at bootstrap, so Traefik's Service gets its fixed address on Argo CD's
# first sync, then hands them to the GitOps tree's cilium-lb app, which must hold the same pools
# (apps/cilium-lb/overlays/<env>; tests/gitops.rs checks both copies are equal).
load_balancer_ip_pools = {
  assigned = { start = "192.168.208.70", stop = "192.168.208.79", service_selector = { "lb.vixens.io/pool" = "assigned" } } # fixed addresses (Traefik: 192.168.208.70)
  auto     = { start = "192.168.208.80", stop = "192.168.208.89", service_selector = {} }
}

gitops_repository_url = "https://github.com/vixens-homelab/gitops.git"
branch                = "dev"
gitops_path           = "argocd/overlays/dev"
