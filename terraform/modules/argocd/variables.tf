variable "kubeconfig" {
  description = "Admin kubeconfig (vixens_talos_cluster's output); unknown at plan time on a first apply."
  type        = string
  sensitive   = true
}

variable "argocd_version" {
  description = "Argo CD release."
  type        = string
  default     = "v3.5.1"
}

variable "ha" {
  description = "Install the high-availability manifest (manifests/ha/install.yaml): every component replicated and Redis HA, whose pods must land on distinct nodes, so it needs at least 3 schedulable nodes (the plan warns when the cluster has fewer)."
  type        = bool
  default     = false
}

variable "install_manifest_file" {
  description = "Path of a local install.yaml (air-gapped use), read by the provider; the state keeps its sha256, and a changed file shows at plan. Null installs the official release manifest of argocd_version (or install_manifest_url)."
  type        = string
  default     = null
}

variable "install_manifest_url" {
  description = "A custom URL of the install manifest (https, or http to a loopback address); needs install_manifest_sha256. Null: the official release URL of argocd_version."
  type        = string
  default     = null
}

variable "install_manifest_sha256" {
  description = "sha256 of the install manifest, checked before anything is applied: kept with install_manifest_file, required with install_manifest_url or a version the provider has no digest for (it ships those of the official releases v2.14.1 to v3.5.1)."
  type        = string
  default     = null
}

variable "repository_url" {
  description = "The GitOps repository (https, ssh or git URL)."
  type        = string
}

variable "branch" {
  description = "The environment's branch: dev, test, staging or main."
  type        = string
  validation {
    condition     = contains(["dev", "test", "staging", "main"], var.branch)
    error_message = "Environments are promoted dev -> test -> staging -> main."
  }
}

variable "path" {
  description = "Path of the environment's Argo CD overlay in the repository, e.g. argocd/overlays/dev."
  type        = string
}

variable "admin_password" {
  description = "Argo CD admin password (stored bcrypt-hashed); null keeps the generated one."
  type        = string
  default     = null
  sensitive   = true
}

variable "create_timeout" {
  description = "Create timeout: Argo CD's images pulled, its workloads ready and the root Application created."
  type        = string
  default     = "20m"
}

variable "update_timeout" {
  description = "Update timeout: an Argo CD upgrade rolls its workloads."
  type        = string
  default     = "20m"
}

variable "delete_timeout" {
  description = "Delete timeout."
  type        = string
  default     = "10m"
}

variable "sealed_secrets_key" {
  description = <<-EOT
    The Sealed Secrets controller's key pair (PEM certificate and private key) that the GitOps tree's sealed
    Secrets are sealed to; null for none. Seeded into kube-system before Argo CD syncs anything, so a rebuilt
    cluster decrypts the same Git. Generate it once per environment (examples/gitops/README.md, "Secrets").
  EOT
  type = object({
    certificate = string
    private_key = string
  })
  default   = null
  sensitive = true
}
