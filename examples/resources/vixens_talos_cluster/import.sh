# Adopt a running cluster from its talosctl secrets.yaml; the id becomes the cluster id the secrets carry.
# Terraform gives an import only the id, never the configuration, so the first plan is an in-place update that
# writes the configuration into the state; it renders the machine configs with the imported secrets and warns
# about any node that does not run them. Its apply re-applies nothing: nodes running the cluster are adopted.
terraform import vixens_talos_cluster.dev ./secrets.yaml
