# The talosconfig and kubeconfig come from the provider block (see vixens_talos_client_config), or:
variable "talosconfig" {
  type      = string
  sensitive = true
}

variable "kubeconfig" {
  type      = string
  sensitive = true
}

data "vixens_cluster_health" "this" {
  talosconfig = var.talosconfig
  kubeconfig  = var.kubeconfig
}

output "etcd_members" {
  value = data.vixens_cluster_health.this.etcd_members
}

output "not_ready" {
  value = [for n in data.vixens_cluster_health.this.nodes : n.name if !n.ready]
}
