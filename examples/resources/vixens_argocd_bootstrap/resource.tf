# Argo CD v3.5.1 handed to the dev branch of the GitOps repository.
resource "vixens_argocd_bootstrap" "argocd" {
  # Straight from vixens_talos_cluster (unknown at plan time on a first apply: fine).
  kubeconfig = vixens_talos_cluster.dev.kubeconfig

  version                 = "v3.5.1"
  namespace               = "argocd"
  install_manifest_sha256 = var.argocd_install_sha256 # pin of the upstream install.yaml
  # Air-gapped: install_manifest = file("${path.module}/argocd/v3.5.1/install.yaml")

  repository {
    url             = "https://github.com/vixens/gitops.git"
    target_revision = "dev"
    path            = "argocd/overlays/dev"
    username        = "git"
    password        = var.gitops_token
  }

  root_application {
    name           = "root"
    project        = "default"
    cascade_delete = true
  }

  admin_password  = var.argocd_admin_password
  server_insecure = true
  wait_for_sync   = true

  timeouts {
    create = "20m"
  }

  depends_on = [vixens_cilium.dev]
}
