# Packer template: build a Linux image, publish it as a version in the tenant-1 gallery, then hand
# it to imageferry from a `shell-local` post-processor (runs on the machine that runs Packer).
#
#   packer init examples/packer && packer build \
#     -var subscription_id=<sub1> -var gallery_resource_group=<rg> -var gallery_name=<gallery> \
#     -var image_name=web -var image_version=1.2.3 examples/packer
#
# Sign-in: Packer's azure-arm builder uses the Azure CLI login (use_azure_cli_auth) or the
# ARM_* / AZURE_* variables; the post-processor's `imageferry` reads the same AZURE_* variables
# (docs/ONBOARDING.md, "Pipelines"). With the Event Grid path (infra/publisher) the version write
# alone starts the configured rollout: set `request_vm = false` and the post-processor only waits
# for replication to the first ring's region.

packer {
  required_plugins {
    azure = {
      source  = "github.com/hashicorp/azure"
      version = ">= 2.1.0"
    }
  }
}

variable "subscription_id" { type = string }
variable "gallery_resource_group" { type = string }
variable "gallery_name" { type = string }
variable "image_name" { type = string }
variable "image_version" { type = string }
variable "gallery_tenant_id" {
  type    = string
  default = env("AZURE_TENANT_ID")
}
variable "location" {
  type    = string
  default = "southcentralus"
}
variable "replication_regions" {
  type    = list(string)
  default = ["southcentralus", "westus2"]
}
variable "request_vm" {
  type    = bool
  default = true
}
# The canary VM imageferry creates in tenant 2 (request_vm = true).
variable "target_tenant_id" {
  type    = string
  default = env("IMAGEFERRY_TARGET_TENANT_ID")
}
variable "target_subscription_id" {
  type    = string
  default = env("IMAGEFERRY_TARGET_SUBSCRIPTION_ID")
}
variable "target_resource_group" {
  type    = string
  default = "web-canary"
}

locals {
  version_id = "/subscriptions/${var.subscription_id}/resourceGroups/${var.gallery_resource_group}/providers/Microsoft.Compute/galleries/${var.gallery_name}/images/${var.image_name}/versions/${var.image_version}"
  # deploymentId: 1-40 of [a-z0-9-]; the version makes it unique, a re-run reuses it (idempotent).
  deployment_id = "canary-${var.image_name}-${replace(var.image_version, ".", "-")}"
}

source "azure-arm" "ubuntu" {
  use_azure_cli_auth = true
  subscription_id    = var.subscription_id
  location           = var.location
  vm_size            = "Standard_D2s_v5"
  os_type            = "Linux"
  image_publisher    = "Canonical"
  image_offer        = "ubuntu-24_04-lts"
  image_sku          = "server"

  shared_image_gallery_destination {
    subscription         = var.subscription_id
    resource_group       = var.gallery_resource_group
    gallery_name         = var.gallery_name
    image_name           = var.image_name
    image_version        = var.image_version
    replication_regions  = var.replication_regions
    storage_account_type = "Standard_LRS"
  }
}

build {
  sources = ["source.azure-arm.ubuntu"]

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'"
    inline = [
      "apt-get update",
      "apt-get -y upgrade",
      "/usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync",
    ]
  }

  # The version exists once the build ends; replication to other regions goes on. imageferry's
  # steps wait for replication themselves; `wait-replicated` makes the pipeline wait too.
  post-processor "shell-local" {
    environment_vars = [
      "VERSION_ID=${local.version_id}",
      "DEPLOYMENT_ID=${local.deployment_id}",
      "GALLERY_TENANT=${var.gallery_tenant_id}",
      "TARGET_TENANT=${var.target_tenant_id}",
      "TARGET_SUBSCRIPTION=${var.target_subscription_id}",
      "TARGET_RG=${var.target_resource_group}",
      "LOCATION=${var.location}",
      "REQUEST_VM=${var.request_vm}",
    ]
    inline = [
      "set -eu",
      "imageferry wait-replicated \"$VERSION_ID\" --region \"$LOCATION\" --tenant \"$GALLERY_TENANT\" --timeout 90m",
      "if [ \"$REQUEST_VM\" = true ]; then imageferry request --deployment-id \"$DEPLOYMENT_ID\" --image \"$VERSION_ID\" --image-tenant \"$GALLERY_TENANT\" --target-tenant \"$TARGET_TENANT\" --subscription \"$TARGET_SUBSCRIPTION\" --resource-group \"$TARGET_RG\" --location \"$LOCATION\" --vm-name \"$DEPLOYMENT_ID\" --vm-size Standard_D2s_v5 --admin-username azureuser --ssh-public-key @$HOME/.ssh/id_ed25519.pub --allow-inbound-from 203.0.113.0/24 --wait --timeout 60m; fi",
    ]
  }
}
