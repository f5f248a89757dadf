# Cilium as the CNI of a Talos cluster: kube-proxy replacement through KubePrism (localhost:7445), Hubble, and L2
# announcements of LoadBalancer IPs on the services VLAN. This module is the only owner of the LB IPAM pools and
# of the L2 announcement policy (field manager `vixens`): the GitOps tree (examples/gitops) creates neither, so
# no two field managers fight over them, and they exist before Argo CD syncs the Services that need them.
resource "vixens_cilium" "this" {
  kubeconfig   = var.kubeconfig
  version      = var.cilium_version
  cluster_name = var.cluster_name

  hubble {
    enabled = true
    relay   = true
    ui      = true
  }

  l2_announcements {
    enabled    = true
    interfaces = var.l2_interfaces
  }

  dynamic "load_balancer_ip_pools" {
    for_each = var.load_balancer_ip_pools
    content {
      name             = load_balancer_ip_pools.key
      service_selector = length(load_balancer_ip_pools.value.service_selector) > 0 ? load_balancer_ip_pools.value.service_selector : null
      blocks {
        start = load_balancer_ip_pools.value.start
        stop  = load_balancer_ip_pools.value.stop
      }
    }
  }

  l2_policy {
    name       = "services"
    interfaces = var.l2_interfaces
  }
}
