variable "cnpg_enabled" {
  description = "PostgreSQL through a CloudNativePG Cluster (cnpg-system is present); false: SQLite on a volume"
  type        = bool
}

variable "images" {
  description = "container images"
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
}

variable "bazel_max_size_gib" {
  description = "bazel-remote's cache size limit in GiB (below the volume size)"
  type        = number
}

variable "bucket" {
  description = "the RustFS bucket Attic stores NARs and chunks in"
  type        = string
  default     = "attic"
}

variable "public_cache" {
  description = "whether the cache is readable without a token (runners and gf's cache gate pull anonymously)"
  type        = bool
  default     = true
}

variable "api_replicas" {
  description = "atticd API replicas with PostgreSQL (SQLite always runs one)"
  type        = number
  default     = 2
}
