# The environment: Talos nodes (Phase 1), Cilium with LB IPAM on the services VLAN, then Argo CD watching this
# environment's branch and overlay (Phase 2 is in Git from there on).
module "talos" {
  source             = "../../modules/talos"
  cluster_name       = var.cluster_name
  endpoint           = var.endpoint
  talos_version      = var.talos_version
  kubernetes_version = var.kubernetes_version
  system_extensions  = var.system_extensions
  management_vlan_id = var.management_vlan_id
  vip                = var.vip
  nodes              = var.nodes
  active_nodes       = var.active_nodes
}

module "cilium" {
  source                 = "../../modules/cilium"
  kubeconfig             = module.talos.kubeconfig
  cluster_name           = var.cluster_name
  l2_interfaces          = ["^${var.link}\\.${var.services_vlan_id}$"]
  load_balancer_ip_pools = var.load_balancer_ip_pools

  # The services VLAN's subnets: a pool outside them fails the plan (it would be announced but unreachable).
  l2_subnets = distinct(flatten([
    for n in values(var.nodes) : [
      for v in n.vlans : [for a in v.addresses : cidrsubnet(a, 0, 0)] if v.vlan_id == var.services_vlan_id
    ]
  ]))
}

module "argocd" {
  source                  = "../../modules/argocd"
  kubeconfig              = module.talos.kubeconfig
  argocd_version          = var.argocd_version
  ha                      = var.argocd_ha
  install_manifest_file   = var.argocd_install_manifest_file
  install_manifest_url    = var.argocd_install_manifest_url
  install_manifest_sha256 = var.argocd_install_manifest_sha256
  repository_url          = var.gitops_repository_url
  branch                  = var.branch
  path                    = var.gitops_path
  sealed_secrets_key      = var.sealed_secrets_key

  # Argo CD's pods need the CNI.
  depends_on = [module.cilium]
}
