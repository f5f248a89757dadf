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
  description = "Cilium release: 1.18.x, 1.19.x or 1.20.x (1.17.x deprecated). Upgrade one minor at a time."
  type        = string
  default     = "1.20.0"
}

variable "kubernetes_version" {
  description = "Kubernetes version of the cluster, checked against the Cilium release's tested range (a plan warning when outside); null: no check."
  type        = string
  default     = null
}

variable "l2_interfaces" {
  description = "Regexes of the interfaces that answer ARP for LoadBalancer IPs (the services VLAN, e.g. ^eth0\\.208$)."
  type        = list(string)
}

variable "l2_subnets" {
  description = "Subnets (CIDRs) of the announcing links, e.g. the services VLAN's [\"192.168.208.0/24\"]: every pool must lie inside one ([]: not checked)."
  type        = list(string)
  default     = []
}

variable "load_balancer_ip_pools" {
  description = "LB IPAM pools by name, each a first and last address and the labels of the Services it serves ({}: every Service). Created at bootstrap; see lb_ipam_hand_off."
  type = map(object({
    start            = string
    stop             = string
    service_selector = map(string)
  }))
}

variable "lb_ipam_hand_off" {
  description = "Hand the pools and the L2 announcement policy to GitOps once created (the GitOps tree's cilium-lb app holds the same objects): re-applied only when they change here, no drift reported on them, left in place on destroy."
  type        = bool
  default     = true
}

variable "create_timeout" {
  description = "Create timeout: Cilium's images pulled and its agents, Envoy and operator ready on every node."
  type        = string
  default     = "20m"
}

variable "update_timeout" {
  description = "Update timeout: an upgrade or a config change rolls the agents node by node."
  type        = string
  default     = "20m"
}

variable "delete_timeout" {
  description = "Delete timeout."
  type        = string
  default     = "10m"
}

variable "metrics" {
  description = "Serve the agent's (:9962) and Hubble's (:9965) Prometheus metrics (the operator's :9963 is always on)."
  type        = bool
  default     = true
}
