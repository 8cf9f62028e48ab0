# Entry file of the `attic` stack. The S3 backend is a partial configuration:
# gf renders bucket, key and endpoint per environment (`gf backend attic`) and
# passes them with -backend-config; credentials come only from the environment.
terraform {
  required_version = ">= 1.10.0"

  backend "s3" {}

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.38"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}

# No cluster settings here: gf passes KUBE_CONFIG_PATH and KUBE_CTX, which the provider reads.
provider "kubernetes" {}
