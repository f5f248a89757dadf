output "kubeconfig" {
  description = "Admin kubeconfig: (umask 077 && terraform output -raw kubeconfig > kubeconfig)"
  value       = module.talos.kubeconfig
  sensitive   = true
}

output "talosconfig" {
  description = "talosctl configuration: (umask 077 && terraform output -raw talosconfig > talosconfig)"
  value       = module.talos.talosconfig
  sensitive   = true
}

output "machine_secrets" {
  description = "The cluster's PKI and tokens (talosctl secrets.yaml): (umask 077 && terraform output -raw machine_secrets > secrets.yaml), and keep it safe."
  value       = module.talos.machine_secrets
  sensitive   = true
}

output "kubernetes" {
  description = "Kubernetes connection (host and PEM credentials)."
  value       = module.talos.kubernetes
  sensitive   = true
}

output "etcd_members" {
  description = "etcd member hostnames."
  value       = module.talos.etcd_members
}

output "node_status" {
  description = "Per node: Talos version, stage, reachability."
  value       = module.talos.node_status
}
