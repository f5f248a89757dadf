# staging: PLACEHOLDER addresses (no hardware yet): replace every 192.168.210.x/192.168.112.x before use.
cluster_name       = "vixens-staging"
endpoint           = "https://192.168.112.180:6443"
management_vlan_id = 112
services_vlan_id   = 210
vip                = "192.168.112.180"

nodes = {
  staging-cp1 = {
    address      = "192.168.112.181"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.112.1"]
    vlans = [
      { vlan_id = 112, addresses = ["192.168.112.181/24"], gateway = "192.168.112.1" },
      { vlan_id = 210, addresses = ["192.168.210.181/24"], gateway = "" },
    ]
  }
  staging-cp2 = {
    address      = "192.168.112.182"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.112.1"]
    vlans = [
      { vlan_id = 112, addresses = ["192.168.112.182/24"], gateway = "192.168.112.1" },
      { vlan_id = 210, addresses = ["192.168.210.182/24"], gateway = "" },
    ]
  }
  staging-cp3 = {
    address      = "192.168.112.183"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.112.1"]
    vlans = [
      { vlan_id = 112, addresses = ["192.168.112.183/24"], gateway = "192.168.112.1" },
      { vlan_id = 210, addresses = ["192.168.210.183/24"], gateway = "" },
    ]
  }
}

# LB IPAM pools: vixens_cilium creates them at bootstrap, so Traefik's Service gets its fixed address on Argo CD's
# first sync, then hands them to the GitOps tree's cilium-lb app, which must hold the same pools
# (apps/cilium-lb/overlays/<env>; tests/gitops.rs checks both copies are equal).
load_balancer_ip_pools = {
  assigned = { start = "192.168.210.70", stop = "192.168.210.79", service_selector = { "lb.vixens.io/pool" = "assigned" } } # fixed addresses (Traefik: 192.168.210.70)
  auto     = { start = "192.168.210.80", stop = "192.168.210.89", service_selector = {} }
}

gitops_repository_url = "https://github.com/vixens-homelab/gitops.git"
branch                = "staging"
gitops_path           = "argocd/overlays/staging"
