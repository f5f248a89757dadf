# Adopt a running cluster from its talosctl secrets.yaml (Terraform >= 1.5); see import.sh for what the first
# plan after an import does.
import {
  to = vixens_talos_cluster.dev
  id = "./secrets.yaml"
}
