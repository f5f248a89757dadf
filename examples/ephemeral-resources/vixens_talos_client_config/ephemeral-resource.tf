# Terraform >= 1.10: short-lived credentials for this run only, minted from the cluster secrets.
ephemeral "vixens_talos_client_config" "admin" {
  machine_secrets = vixens_talos_cluster.dev.machine_secrets
  cluster_name    = "vixens-dev"
  endpoint        = vixens_talos_cluster.dev.endpoint
  talos_endpoints = ["192.168.111.162"]
  validity        = "30m"
}

# A second provider block configured with them: nothing lands in the plan or the state.
provider "vixens" {
  alias       = "cluster"
  talosconfig = ephemeral.vixens_talos_client_config.admin.talosconfig
  kubeconfig  = ephemeral.vixens_talos_client_config.admin.kubeconfig
}

data "vixens_cluster_health" "dev" {
  provider = vixens.cluster
}

check "cluster_healthy" {
  assert {
    condition     = data.vixens_cluster_health.dev.healthy
    error_message = "Some Nodes are not Ready, or etcd is missing a member."
  }
}

# The same credentials for the kubernetes provider, taken apart.
provider "kubernetes" {
  host                   = ephemeral.vixens_talos_client_config.admin.kubernetes.host
  cluster_ca_certificate = ephemeral.vixens_talos_client_config.admin.kubernetes.ca_certificate
  client_certificate     = ephemeral.vixens_talos_client_config.admin.kubernetes.client_certificate
  client_key             = ephemeral.vixens_talos_client_config.admin.kubernetes.client_key
}
