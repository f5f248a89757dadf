# Argo CD, then the root App-of-Apps that hands the cluster to Git: from here on, `git push` deploys.
# The install manifest is the official release of argocd_version (its sha256 ships with the provider), a local
# file, or a custom URL; the state keeps its version, source and sha256, never its text.
# What the first sync needs is in place before the root Application exists:
# - server.insecure: argocd-server reads it only at start, and TLS ends at Traefik (no redirect loop);
# - the Application health check in argocd-cm, so that the root's sync waves wait for each child Application
#   to be Healthy from the very first sync (Argo CD assesses no Application health without it);
# - the Sealed Secrets controller's key, so the sealed Secrets in Git decrypt on this (or a rebuilt) cluster.
locals {
  sealed_secrets_keys = var.sealed_secrets_key == null ? [] : [var.sealed_secrets_key]
  bootstrap_secrets = [for key in local.sealed_secrets_keys : {
    namespace = "kube-system"
    name      = "sealed-secrets-key"
    type      = "kubernetes.io/tls"
    labels    = { "sealedsecrets.bitnami.com/sealed-secrets-key" = "active" }
    data      = { "tls.crt" = key.certificate, "tls.key" = key.private_key }
  }]
}

resource "vixens_argocd_bootstrap" "this" {
  kubeconfig              = var.kubeconfig
  version                 = var.argocd_version
  ha                      = var.ha
  install_manifest_file   = var.install_manifest_file
  install_manifest_url    = var.install_manifest_url
  install_manifest_sha256 = var.install_manifest_sha256
  admin_password          = var.admin_password
  server_insecure         = true

  argocd_cm = {
    "resource.customizations.health.argoproj.io_Application" = file("${path.module}/application-health.lua")
  }
  bootstrap_secrets = local.bootstrap_secrets

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
