# test: carny, celesty and citrine; services on VLAN 209. Validated and planned only.
cluster_name       = "vixens-test"
endpoint           = "https://192.168.111.170:6443"
management_vlan_id = 111
services_vlan_id   = 209
vip                = "192.168.111.170"

nodes = {
  carny = {
    address      = "192.168.111.171"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["192.168.111.171/24"], gateway = "192.168.111.1" },
      { vlan_id = 209, addresses = ["192.168.209.171/24"], gateway = "" },
    ]
  }
  celesty = {
    address      = "192.168.111.172"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["192.168.111.172/24"], gateway = "192.168.111.1" },
      { vlan_id = 209, addresses = ["192.168.209.172/24"], gateway = "" },
    ]
  }
  citrine = {
    address      = "192.168.111.173"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link         = "eth0"
    nameservers  = ["192.168.111.1"]
    vlans = [
      { vlan_id = 111, addresses = ["192.168.111.173/24"], gateway = "192.168.111.1" },
      { vlan_id = 209, addresses = ["192.168.209.173/24"], gateway = "" },
    ]
  }
}

# LB IPAM pools: vixens_cilium creates them at bootstrap, so Traefik's Service gets its fixed address on Argo CD's
# first sync, then hands them to the GitOps tree's cilium-lb app, which must hold the same pools
# (apps/cilium-lb/overlays/<env>; tests/gitops.rs checks both copies are equal).
load_balancer_ip_pools = {
  assigned = { start = "192.168.209.70", stop = "192.168.209.79", service_selector = { "lb.vixens.io/pool" = "assigned" } } # fixed addresses (Traefik: 192.168.209.70)
  auto     = { start = "192.168.209.80", stop = "192.168.209.89", service_selector = {} }
}

gitops_repository_url = "https://github.com/vixens-homelab/gitops.git"
branch                = "test"
gitops_path           = "argocd/overlays/test"
