# Entry file of the `gitlab-runners` stack. The S3 backend is a partial configuration:
# gf renders bucket, key and endpoint per environment (`gf backend gitlab-runners`) and
# passes them with -backend-config; credentials come only from the environment.
terraform {
  required_version = ">= 1.10.0"

  backend "s3" {}

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.38"
    }
  }
}

# No cluster settings here: gf passes KUBE_CONFIG_PATH and KUBE_CTX, which both providers read.
provider "kubernetes" {}

provider "helm" {}
