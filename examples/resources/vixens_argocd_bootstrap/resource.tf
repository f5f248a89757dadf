# The kubeconfig is usually vixens_talos_cluster's output (unknown at plan time on a first apply).
variable "kubeconfig" {
  type      = string
  sensitive = true
}

# Argo CD v3.5.1 and a root App-of-Apps that follows the dev branch of the GitOps repository. The official
# install.yaml is downloaded and checked against its sha256, which the provider ships for v2.14.1 to v3.5.1.
# Air-gapped: install_manifest_file = "install.yaml" (the provider reads it; the state keeps its sha256, not its
# text). Three schedulable nodes or more: ha = true.
resource "vixens_argocd_bootstrap" "this" {
  kubeconfig = var.kubeconfig
  version    = "v3.5.1"

  repository {
    url             = "https://github.com/vixens-homelab/gitops.git"
    target_revision = "dev"
    path            = "argocd/overlays/dev"
  }

  root_application {
    name = "root"
  }
}
