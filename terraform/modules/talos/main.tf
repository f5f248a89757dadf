# One vixens_talos_cluster for an environment's nodes: the management VLAN carries the node addresses and the
# control planes' VIP; every other VLAN (services) carries only addresses.
locals {
  nodes = var.active_nodes == null ? var.nodes : { for name in var.active_nodes : name => var.nodes[name] }
}

resource "vixens_talos_cluster" "this" {
  cluster_name                       = var.cluster_name
  endpoint                           = var.endpoint
  talos_version                      = var.talos_version
  kubernetes_version                 = var.kubernetes_version
  install_image                      = var.install_image
  system_extensions                  = var.system_extensions
  extra_kernel_args                  = var.extra_kernel_args
  image_factory                      = var.image_factory
  cert_sans                          = var.cert_sans
  allow_scheduling_on_control_planes = var.allow_scheduling_on_control_planes
  config_patches                     = var.config_patches
  unreachable_timeout                = var.unreachable_timeout

  dynamic "nodes" {
    for_each = local.nodes
    content {
      name         = nodes.key
      address      = nodes.value.address
      role         = nodes.value.role
      install_disk = nodes.value.install_disk
      nameservers  = nodes.value.nameservers

      link {
        name = nodes.value.link
        dynamic "vlan" {
          for_each = nodes.value.vlans
          content {
            vlan_id   = vlan.value.vlan_id
            addresses = vlan.value.addresses
            vip       = nodes.value.role == "controlplane" && vlan.value.vlan_id == var.management_vlan_id ? var.vip : null
            dynamic "route" {
              for_each = vlan.value.gateway == "" ? [] : [vlan.value.gateway]
              content {
                gateway = route.value
              }
            }
          }
        }
      }
    }
  }

  on_destroy {
    reset    = true
    graceful = true
  }

  # Real machines: installing Talos on every node (in parallel) and bootstrapping etcd takes minutes; an update may
  # roll a reboot or an OS upgrade through every node, one at a time.
  timeouts {
    create = var.create_timeout
    update = var.update_timeout
    delete = var.delete_timeout
  }
}
