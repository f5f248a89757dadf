variable "kubeconfig" {
  description = "Admin kubeconfig (vixens_talos_cluster's output); unknown at plan time on a first apply."
  type        = string
  sensitive   = true
}

variable "cluster_name" {
  description = "Cilium cluster-name."
  type        = string
}

variable "cilium_version" {
  description = "Cilium release (the 1.17 line)."
  type        = string
  default     = "1.17.0"
}

variable "l2_interfaces" {
  description = "Regexes of the interfaces that answer ARP for LoadBalancer IPs (the services VLAN, e.g. ^eth0\\.208$)."
  type        = list(string)
}

variable "load_balancer_ip_pools" {
  description = "LB IPAM pools by name, each a first and last address and the labels of the Services it serves ({}: every Service). This module is their only owner: the GitOps tree holds no pools."
  type = map(object({
    start            = string
    stop             = string
    service_selector = map(string)
  }))
}
