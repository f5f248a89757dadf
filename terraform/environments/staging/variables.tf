variable "cluster_name" {
  description = "Kubernetes cluster name."
  type        = string
}

variable "endpoint" {
  description = "Kubernetes API endpoint: https://<VIP>:6443."
  type        = string
}

variable "talos_version" {
  description = "Talos machine config contract."
  type        = string
  default     = "1.13"
}

variable "kubernetes_version" {
  description = "Kubernetes version (null: the contract's default)."
  type        = string
  default     = null
}

variable "system_extensions" {
  description = <<-EOT
    Talos system extensions the nodes install (through the Image Factory). The Synology CSI node plugin runs the
    host's iscsiadm (chart flags --chroot-dir=/host --iscsiadm-path=/usr/local/sbin/iscsiadm), which Talos has only
    with siderolabs/iscsi-tools. Nothing else of the host is run by the driver (util-linux-tools is not needed).
  EOT
  type        = set(string)
  default     = ["siderolabs/iscsi-tools"]
}

variable "link" {
  description = "The nodes' physical interface that carries the VLANs."
  type        = string
  default     = "eth0"
}

variable "management_vlan_id" {
  description = "Management VLAN (node addresses, VIP)."
  type        = number
}

variable "services_vlan_id" {
  description = "Services VLAN (LoadBalancer IPs announced by Cilium)."
  type        = number
}

variable "vip" {
  description = "Control-plane VIP on the management VLAN."
  type        = string
}

variable "nodes" {
  description = "Talos machines by name (see terraform/modules/talos)."
  type = map(object({
    address      = string
    role         = string
    install_disk = string
    link         = string
    nameservers  = list(string)
    vlans = list(object({
      vlan_id   = number
      addresses = list(string)
      gateway   = string
    }))
  }))
}

variable "active_nodes" {
  description = "Nodes managed now (null: all). The roadmap bootstraps one node, then adds the others."
  type        = list(string)
  default     = null

  validation {
    condition     = var.active_nodes == null || try(length(var.active_nodes) > 0 && length(distinct(var.active_nodes)) == length(var.active_nodes), false)
    error_message = "The active_nodes list names at least one node, each once (null manages them all); the first apply needs a control plane."
  }
}

variable "load_balancer_ip_pools" {
  description = "Cilium LB IPAM pools on the services VLAN, created by vixens_cilium at bootstrap and handed to the GitOps cilium-lb app (same pools): \"assigned\" serves the Services labelled lb.vixens.io/pool=assigned that name their address (Traefik's), \"auto\" every Service (service_selector {})."
  type = map(object({
    start            = string
    stop             = string
    service_selector = map(string)
  }))
}

variable "gitops_repository_url" {
  description = "The GitOps repository Argo CD watches."
  type        = string
}

variable "branch" {
  description = "This environment's branch: dev, test, staging or main."
  type        = string
}

variable "gitops_path" {
  description = "This environment's Argo CD overlay in the GitOps repository."
  type        = string
}

variable "argocd_version" {
  description = "Argo CD release; the provider ships the sha256 of the official install.yaml of v2.14.1 to v3.5.1."
  type        = string
  default     = "v3.5.1"
}

variable "argocd_ha" {
  description = "Argo CD's high-availability manifest; needs at least 3 schedulable nodes (the plan warns when fewer)."
  type        = bool
  default     = false
}

variable "argocd_install_manifest_file" {
  description = "Path of a local Argo CD install.yaml (air-gapped use), read by the provider (relative paths from this folder); null installs the official release manifest."
  type        = string
  default     = null
}

variable "argocd_install_manifest_url" {
  description = "A mirror URL of the Argo CD install.yaml (needs argocd_install_manifest_sha256); null: the official release URL."
  type        = string
  default     = null
}

variable "argocd_install_manifest_sha256" {
  description = "sha256 the Argo CD install.yaml must have: required with a URL or an unlisted version, checked with a file too."
  type        = string
  default     = null
}

variable "sealed_secrets_key" {
  description = <<-EOT
    This environment's Sealed Secrets key pair, e.g. { certificate = file("sealed-secrets.crt"), private_key =
    file("sealed-secrets.key") } from a *.auto.tfvars outside Git (examples/gitops/README.md, "Secrets"); null
    until you have sealed your first Secret.
  EOT
  type = object({
    certificate = string
    private_key = string
  })
  default   = null
  sensitive = true
}
