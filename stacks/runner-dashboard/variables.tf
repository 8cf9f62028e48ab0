variable "image" {
  description = "the dashboard's container image"
  type        = string
}

variable "port" {
  description = "the port the dashboard listens on"
  type        = number
  default     = 8080
}

variable "replicas" {
  type    = number
  default = 1
}

variable "exposure" {
  description = "`tailnet` (default: Tailscale operator, tailnet only) or `cluster` (no exposure)"
  type        = string
  default     = "tailnet"
}

variable "tailnet_hostname" {
  description = "the dashboard's MagicDNS name on the tailnet"
  type        = string
  default     = "runner-dashboard"
}
