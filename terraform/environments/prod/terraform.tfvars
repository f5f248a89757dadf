# prod (branch main): PLACEHOLDER addresses (no hardware yet): replace every 192.168.211.x/192.168.113.x before use.
cluster_name       = "vixens-prod"
endpoint           = "https://192.168.113.190:6443"
management_vlan_id = 113
services_vlan_id   = 211
vip                = "192.168.113.190"

nodes = {
  prod-cp1 = {
    address      = "192.168.113.191"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.113.1"]
    vlans = [
      { vlan_id = 113, addresses = ["192.168.113.191/24"], gateway = "192.168.113.1" },
      { vlan_id = 211, addresses = ["192.168.211.191/24"], gateway = "" },
    ]
  }
  prod-cp2 = {
    address      = "192.168.113.192"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.113.1"]
    vlans = [
      { vlan_id = 113, addresses = ["192.168.113.192/24"], gateway = "192.168.113.1" },
      { vlan_id = 211, addresses = ["192.168.211.192/24"], gateway = "" },
    ]
  }
  prod-cp3 = {
    address      = "192.168.113.193"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.113.1"]
    vlans = [
      { vlan_id = 113, addresses = ["192.168.113.193/24"], gateway = "192.168.113.1" },
      { vlan_id = 211, addresses = ["192.168.211.193/24"], gateway = "" },
    ]
  }
}

# LB IPAM pools: vixens_cilium creates them at bootstrap, so Traefik's Service gets its fixed address on Argo CD's
# first sync, then hands them to the GitOps tree's cilium-lb app, which must hold the same pools
# (apps/cilium-lb/overlays/<env>; tests/gitops.rs checks both copies are equal).
load_balancer_ip_pools = {
  assigned = { start = "192.168.211.70", stop = "192.168.211.79", service_selector = { "lb.vixens.io/pool" = "assigned" } } # fixed addresses (Traefik: 192.168.211.70)
  auto     = { start = "192.168.211.80", stop = "192.168.211.89", service_selector = {} }
}

gitops_repository_url = "https://github.com/vixens-homelab/gitops.git"
branch                = "main"
gitops_path           = "argocd/overlays/prod"
