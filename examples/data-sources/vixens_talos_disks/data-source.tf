# A machine booted from the Talos ISO, in maintenance mode at the address its console shows.
data "vixens_talos_disks" "obsy" {
  node = "192.168.111.162"
}

# The first SSD or NVMe disk: what install_disk of the node in vixens_talos_cluster could be.
output "obsy_install_disk" {
  value = [for d in data.vixens_talos_disks.obsy.disks : d.dev_path if !d.rotational && !d.cdrom && !d.readonly][0]
}
