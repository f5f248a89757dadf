terraform {
  required_providers {
    vixens = {
      source  = "vixens/vixens"
      version = ">= 0.1.0"
    }
  }
}

# The provider has no settings: each resource carries its own connection (Talos node addresses, or the
# kubeconfig that vixens_talos_cluster outputs).
provider "vixens" {}
