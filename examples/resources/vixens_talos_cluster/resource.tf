# One control plane on a management VLAN (111) with the cluster VIP, plus a services VLAN (208).
resource "vixens_talos_cluster" "dev" {
  cluster_name  = "vixens-dev"
  endpoint      = "https://192.168.111.160:6443"
  talos_version = "1.13"
  # No worker: the control plane runs the workloads too (Argo CD, the Cilium operator...).
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
        route {
          gateway = "192.168.111.1"
        }
      }
      vlan {
        vlan_id   = 208
        addresses = ["192.168.208.162/24"]
      }
    }
  }

  on_destroy {
    reset    = true
    graceful = true
  }
}

output "kubeconfig" {
  value     = vixens_talos_cluster.dev.kubeconfig
  sensitive = true
}
