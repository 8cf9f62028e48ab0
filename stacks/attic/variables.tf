variable "cnpg_enabled" {
  description = "whether CloudNativePG runs in cnpg-system: PostgreSQL through a CNPG Cluster, else SQLite on a volume"
  type        = bool
}

variable "images" {
  description = "container images of the cache plane (atticd needs /bin/sh and atticadm; curl and aws-cli run the bootstrap Job)"
  type = object({
    atticd       = string
    rustfs       = string
    bazel_remote = string
    curl         = string
    aws_cli      = string
  })
}

variable "storage_class" {
  description = "storage class of every volume (null: the cluster default)"
  type        = string
  default     = null
}

variable "sizes" {
  description = "volume sizes"
  type = object({
    rustfs   = string
    bazel    = string
    sqlite   = string
    postgres = string
  })
  default = { rustfs = "200Gi", bazel = "100Gi", sqlite = "5Gi", postgres = "10Gi" }
}

variable "bazel_max_size_gib" {
  description = "bazel-remote's size limit in GiB; keep it below the volume size"
  type        = number
  default     = 90
}
