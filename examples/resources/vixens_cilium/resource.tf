# The kubeconfig is usually vixens_talos_cluster's output (unknown at plan time on a first apply).
variable "kubeconfig" {
  type      = string
  sensitive = true
}

# Cilium on the cluster made by vixens_talos_cluster: kube-proxy replacement through KubePrism, Hubble, and L2
# announcements of LoadBalancer IPs on the services VLAN (eth0.208).
resource "vixens_cilium" "this" {
  kubeconfig   = var.kubeconfig
  version      = "1.20.0"
  cluster_name = "vixens-dev"
  # Checked against the Kubernetes versions Cilium 1.20 was tested with (1.33 to 1.36): a warning when outside.
  kubernetes_version = "1.35.4"

  hubble {
    enabled = true
    relay   = true
    ui      = true
  }

  l2_announcements {
    enabled    = true
    interfaces = ["^eth0\\.208$"]
  }

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
    name       = "services"
    interfaces = ["^eth0\\.208$"]
  }
}
