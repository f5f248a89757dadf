output "install_health" {
  description = "Healthy, or which Argo CD workloads are not rolled out."
  value       = vixens_argocd_bootstrap.this.install_health
}
