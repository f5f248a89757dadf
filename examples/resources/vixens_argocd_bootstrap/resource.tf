# The kubeconfig is usually vixens_talos_cluster's output (unknown at plan time on a first apply).
variable "kubeconfig" {
  type      = string
  sensitive = true
}

# Argo CD v3.5.1 and a root App-of-Apps that follows the dev branch of the GitOps repository.
resource "vixens_argocd_bootstrap" "this" {
  kubeconfig              = var.kubeconfig
  version                 = "v3.5.1"
  install_manifest_sha256 = "795a3a972224da6a7f9d32c3e946445f062b60fb46028476715affeb688236e3"

  repository {
    url             = "https://github.com/vixens-homelab/gitops.git"
    target_revision = "dev"
    path            = "argocd/overlays/dev"
  }

  root_application {
    name = "root"
  }
}
