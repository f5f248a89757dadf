data "vixens_talos_links" "obsy" {
  node = "192.168.111.162"
}

# The wired port with a known MAC address: what link.name of the node in vixens_talos_cluster could be.
output "obsy_link" {
  value = one([for l in data.vixens_talos_links.obsy.links : l.name if l.hardware_addr == "aa:bb:cc:00:11:22"])
}
