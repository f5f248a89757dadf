# A complete small setup: one Talos control plane, Cilium with one LoadBalancer pool, Argo CD following Git.
terraform {
  required_providers {
    vixens = {
      source = "vixens/vixens"
    }
  }
}

provider "vixens" {}

resource "vixens_talos_cluster" "lab" {
  cluster_name = "lab"
  endpoint     = "https://192.168.111.160:6443"
  # One control plane and no worker: it must run the workloads too (Argo CD, the Cilium operator...).
  allow_scheduling_on_control_planes = true

  nodes {
    name         = "obsy"
    address      = "192.168.111.162"
    role         = "controlplane"
    install_disk = "/dev/sda"
    link {
      name = "eth0"
      vlan {
        vlan_id   = 111
        addresses = ["192.168.111.162/24"]
        vip       = "192.168.111.160"
      }
    }
  }
}

resource "vixens_cilium" "lab" {
  kubeconfig   = vixens_talos_cluster.lab.kubeconfig
  cluster_name = "lab"

  l2_announcements {
    enabled    = true
    interfaces = ["^eth0\\.111$"]
  }

  load_balancer_ip_pools {
    name = "lab"
    blocks {
      cidr = "192.168.111.240/28"
    }
  }

  l2_policy {
    interfaces = ["^eth0\\.111$"]
  }
}

resource "vixens_argocd_bootstrap" "lab" {
  kubeconfig = vixens_talos_cluster.lab.kubeconfig
  version    = "v3.5.1" # the official install.yaml, checked against the sha256 the provider ships

  repository {
    url             = "https://github.com/vixens-homelab/gitops.git"
    target_revision = "dev"
    path            = "argocd/overlays/dev"
  }

  depends_on = [vixens_cilium.lab]
}
