# Cilium as the CNI of a Talos cluster: kube-proxy replacement through KubePrism (localhost:7445), Hubble, and L2
# announcements of LoadBalancer IPs on the services VLAN. The LB IPAM pools and the L2 announcement policy are
# created here at bootstrap, so they exist before Argo CD syncs the Services that need them, then handed off to the
# GitOps tree's cilium-lb app (lb_ipam_hand_off), which holds the same objects: the two never fight over them.
resource "vixens_cilium" "this" {
  kubeconfig   = var.kubeconfig
  version      = var.cilium_version
  cluster_name = var.cluster_name

  kubernetes_version = var.kubernetes_version

  lb_ipam_hand_off = var.lb_ipam_hand_off

  # Metrics for the GitOps tree's ServiceMonitors (the chart's prometheus.enabled and hubble.metrics.enabled,
  # as cilium-config keys): the agent on :9962, Hubble on :9965, plain HTTP; the operator serves :9963 anyway.
  extra_config = var.metrics ? {
    "prometheus-serve-addr"            = ":9962"
    "hubble-metrics-server"            = ":9965"
    "hubble-metrics-server-enable-tls" = "false"
    "enable-hubble-open-metrics"       = "false"
    "hubble-metrics"                   = "dns drop tcp flow port-distribution icmp httpV2"
  } : {}

  hubble {
    enabled = true
    relay   = true
    ui      = true
  }

  l2_announcements {
    enabled    = true
    interfaces = var.l2_interfaces
    subnets    = length(var.l2_subnets) > 0 ? var.l2_subnets : null
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

  # The agents roll one node at a time; the first install waits for images to be pulled on every node.
  timeouts {
    create = var.create_timeout
    update = var.update_timeout
    delete = var.delete_timeout
  }
}
