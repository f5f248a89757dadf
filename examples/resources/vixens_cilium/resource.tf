# Cilium on the dev cluster: kube-proxy replacement through KubePrism (localhost:7445), Hubble with relay and UI,
# L2 announcements of LoadBalancer IPs on the services VLAN (208).
resource "vixens_cilium" "cni" {
  # Outputs of vixens_talos_cluster; unknown on the first plan, which is fine.
  kubeconfig = vixens_talos_cluster.dev.kubeconfig

  version      = "1.17.0" # 1.17.x accepted; 1.17.0 verified against its chart
  cluster_name = "dev"
  cluster_id   = 1

  hubble {
    enabled = true
    relay   = true
    ui      = true
  }

  l2_announcements {
    enabled        = true
    interfaces     = ["^eth[0-9]+"]
    lease_duration = "15s"
  }

  # Services ask for an address with the annotation lbipam.cilium.io/ips = "192.168.208.70".
  load_balancer_ip_pools {
    name = "assigned"
    blocks {
      start = "192.168.208.70"
      stop  = "192.168.208.79"
    }
  }
  load_balancer_ip_pools {
    name = "auto"
    blocks {
      start = "192.168.208.80"
      stop  = "192.168.208.89"
    }
  }

  l2_policy {
    name              = "services-vlan"
    load_balancer_ips = true
  }
}
