# Argo CD, then the root App-of-Apps that hands the cluster to Git: from here on, `git push` deploys.
resource "vixens_argocd_bootstrap" "this" {
  kubeconfig              = var.kubeconfig
  version                 = var.argocd_version
  install_manifest        = var.install_manifest
  install_manifest_sha256 = var.install_manifest == null ? var.install_manifest_sha256 : null
  admin_password          = var.admin_password

  repository {
    url             = var.repository_url
    target_revision = var.branch
    path            = var.path
  }

  root_application {
    name = "root"
  }

  # Argo CD's images pulled and its workloads ready, then the root Application's first sync.
  timeouts {
    create = var.create_timeout
    update = var.update_timeout
    delete = var.delete_timeout
  }
}
