terraform {
  required_providers {
    vixens = {
      source  = "vixens/vixens"
      version = ">= 0.1.0"
    }
  }
}

# Resources carry their own connection (Talos node addresses, or the kubeconfig that vixens_talos_cluster
# outputs): the provider block needs no settings. Its optional talosconfig and kubeconfig serve the data sources
# that read a running cluster (see vixens_talos_client_config for filling them without storing them).
provider "vixens" {}
