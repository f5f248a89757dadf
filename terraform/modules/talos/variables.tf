variable "cluster_name" {
  description = "Kubernetes cluster name."
  type        = string
}

variable "endpoint" {
  description = "Kubernetes API endpoint, https://host:port; the host is the VIP (or a control-plane address, or a DNS name)."
  type        = string
  validation {
    condition     = can(regex("^https://[^/:]+(:[0-9]+)?/?$", var.endpoint))
    error_message = "The endpoint must look like https://host:port."
  }
}

variable "talos_version" {
  description = "Talos machine config contract: 1.11, 1.12 or 1.13."
  type        = string
  default     = "1.13"
}

variable "kubernetes_version" {
  description = "Kubernetes version, e.g. 1.34.1 (null: the contract's default)."
  type        = string
  default     = null
}

variable "install_image" {
  description = "Talos installer image (null: the provider's default for the contract)."
  type        = string
  default     = null
}

variable "system_extensions" {
  description = <<-EOT
    Official Talos system extensions, e.g. siderolabs/iscsi-tools (iSCSI for Synology CSI). Non-empty: the nodes
    install the Image Factory's installer of that schematic (conflicts with install_image).
  EOT
  type        = set(string)
  default     = []
}

variable "extra_kernel_args" {
  description = "Extra kernel arguments of the schematic (with system_extensions)."
  type        = list(string)
  default     = []
}

variable "image_factory" {
  description = "Image Factory serving the schematic's installer (null: https://factory.talos.dev)."
  type        = string
  default     = null
}

variable "cert_sans" {
  description = "Extra SANs for the Kubernetes API and Talos API certificates."
  type        = list(string)
  default     = []
}

variable "allow_scheduling_on_control_planes" {
  description = "Let workloads run on control planes (a homelab with no workers needs it)."
  type        = bool
  default     = true
}

variable "config_patches" {
  description = "Cluster-level strategic-merge patches (YAML strings), applied to every node."
  type        = list(string)
  default     = []
}

variable "management_vlan_id" {
  description = "VLAN that carries the management network and the control-plane VIP."
  type        = number
  validation {
    condition     = var.management_vlan_id >= 1 && var.management_vlan_id <= 4094
    error_message = "VLAN ids run from 1 to 4094."
  }
}

variable "vip" {
  description = "Shared layer-2 VIP of the control planes on the management VLAN (null for none)."
  type        = string
  default     = null
  validation {
    condition     = var.vip == null || can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.vip))
    error_message = "The VIP must be an IPv4 address without prefix length."
  }
}

variable "nodes" {
  description = <<-EOT
    Talos machines by name. address is the Talos API address; role controlplane or worker; link the physical
    interface carrying the VLANs; each VLAN has its id, static addresses (CIDR) and a gateway ("" for none).
  EOT
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

  validation {
    condition     = length([for n in values(var.nodes) : n if n.role == "controlplane"]) % 2 == 1
    error_message = "An odd number of control planes (1, 3, 5) keeps etcd quorum."
  }
  validation {
    condition     = alltrue([for n in values(var.nodes) : contains(["controlplane", "worker"], n.role)])
    error_message = "Each node's role is controlplane or worker."
  }
  validation {
    condition     = alltrue([for n in values(var.nodes) : alltrue([for v in n.vlans : v.vlan_id >= 1 && v.vlan_id <= 4094])])
    error_message = "VLAN ids run from 1 to 4094."
  }
  validation {
    condition     = alltrue([for n in values(var.nodes) : can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", n.address))])
    error_message = "Each node address is an IPv4 address (the Talos API is reached on port 50000)."
  }
  validation {
    condition     = alltrue(flatten([for n in values(var.nodes) : [for v in n.vlans : [for a in v.addresses : can(cidrhost(a, 0))]]]))
    error_message = "VLAN addresses are CIDRs, e.g. 192.168.111.162/24."
  }
}

variable "active_nodes" {
  description = "Names of the nodes to manage now (null: all). The roadmap starts with one node, then adds the others."
  type        = list(string)
  default     = null

  validation {
    condition     = var.active_nodes == null || try(length(var.active_nodes) > 0 && length(distinct(var.active_nodes)) == length(var.active_nodes), false)
    error_message = "The active_nodes list names at least one node, each once (null manages them all); the first apply needs a control plane."
  }
}

variable "unreachable_timeout" {
  description = "How long an apply waits for a node that does not answer the Talos API at all (a typo'd address, a machine that is off) before failing with its address and the cause; a node that answered and reboots is waited for up to the timeouts."
  type        = string
  default     = "2m"
}

variable "create_timeout" {
  description = "Create timeout of the cluster: install Talos on every node, bootstrap etcd, wait for the Kubernetes API."
  type        = string
  default     = "30m"
}

variable "update_timeout" {
  description = "Update timeout: config changes and OS upgrades roll through the nodes one at a time (each may reboot)."
  type        = string
  default     = "60m"
}

variable "delete_timeout" {
  description = "Delete timeout: every node leaves etcd and is reset."
  type        = string
  default     = "15m"
}
