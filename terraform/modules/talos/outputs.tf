output "kubeconfig" {
  description = "Admin kubeconfig of the cluster."
  value       = vixens_talos_cluster.this.kubeconfig
  sensitive   = true
}

output "talosconfig" {
  description = "talosctl configuration, with the control planes as endpoints."
  value       = vixens_talos_cluster.this.talosconfig
  sensitive   = true
}

output "kubernetes" {
  description = "Kubernetes connection: host, ca_certificate, client_certificate, client_key (PEM)."
  value       = vixens_talos_cluster.this.kubernetes
  sensitive   = true
}

output "machine_secrets" {
  description = "The cluster's secrets in talosctl's secrets.yaml format: back them up."
  value       = vixens_talos_cluster.this.machine_secrets
  sensitive   = true
}

output "etcd_members" {
  description = "etcd member hostnames."
  value       = vixens_talos_cluster.this.etcd_members
}

output "node_status" {
  description = "Per node: Talos version, stage, reachability, applied config hash."
  value       = vixens_talos_cluster.this.node_status
}
