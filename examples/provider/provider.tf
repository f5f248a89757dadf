terraform {
  required_providers {
    vixens = {
      source  = "vixens/vixens"
      version = ">= 0.1.0"
    }
  }
}

# Resources carry their own connection (Talos node addresses, or the kubeconfig that vixens_talos_cluster
# outputs). `check_nodes_at_plan` says whether plans may connect to the Talos nodes that take their first
# config, to refuse at plan a node that does not answer; CI plans without the hardware turn it off (here, or
# with VIXENS_CHECK_NODES_AT_PLAN=false in the environment). The optional talosconfig and kubeconfig serve
# the data sources that read a running cluster (see vixens_talos_client_config for filling them without
# storing them).
provider "vixens" {
  check_nodes_at_plan = true
}
