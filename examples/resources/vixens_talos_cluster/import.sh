# Adopt a running cluster from its talosctl secrets.yaml; nothing is re-applied to the nodes.
terraform import vixens_talos_cluster.dev ./secrets.yaml
