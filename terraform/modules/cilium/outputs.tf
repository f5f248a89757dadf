output "hubble_ca_certificate" {
  description = "Hubble's CA certificate (PEM), for the hubble CLI."
  value       = vixens_cilium.this.hubble_ca_certificate
}
