terraform {
  required_version = ">= 0.15"
  required_providers {
    vixens = {
      source  = "vixens/vixens"
      version = ">= 0.1.0"
    }
  }
}

provider "vixens" {}
