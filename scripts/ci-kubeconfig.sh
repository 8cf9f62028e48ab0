#!/usr/bin/env bash
# CI helper (the plan and deploy workflows): a kubeconfig for the ARC runner pod this job runs
# in, through the pod's own service account, with one context named `$KUBE_CONTEXT` (gf and the
# kubernetes/helm providers always use a kubeconfig and that named context). The file names the
# token and CA files the pod mounts; it holds no credential itself. Written 0600 to
# `$RUNNER_TEMP/gf-kubeconfig` and exported through `$GITHUB_ENV`. A job that already has
# `KUBECONFIG` (a runner set up another way) keeps it.
set -euo pipefail
fail() { printf '::error::%s\n' "$*" >&2; exit 1; }

if [ -n "${KUBECONFIG:-}" ] && [ -r "${KUBECONFIG%%:*}" ]; then
  printf 'KUBECONFIG is already set (%s): kept\n' "$KUBECONFIG"
  exit 0
fi
: "${KUBE_CONTEXT:?KUBE_CONTEXT must name the kube context of the environment (kube_context in the contract)}"
: "${RUNNER_TEMP:?RUNNER_TEMP is unset: run this inside a GitHub Actions job}"
: "${GITHUB_ENV:?GITHUB_ENV is unset: run this inside a GitHub Actions job}"
sa=${GF_CI_SERVICE_ACCOUNT_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
[ -r "$sa/token" ] || fail "no service account token at \`$sa/token\`: this runner pod needs a mounted service account (automountServiceAccountToken) or a KUBECONFIG"
[ -r "$sa/ca.crt" ] || fail "no cluster CA at \`$sa/ca.crt\`"
host=${KUBERNETES_SERVICE_HOST:?KUBERNETES_SERVICE_HOST is unset: this job does not run in a Kubernetes pod}
port=${KUBERNETES_SERVICE_PORT:-443}
case "$host" in *:*) host="[$host]" ;; esac

out=$RUNNER_TEMP/gf-kubeconfig
umask 077
cat >"$out" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: "$KUBE_CONTEXT"
    cluster:
      server: "https://$host:$port"
      certificate-authority: "$sa/ca.crt"
users:
  - name: runner-service-account
    user:
      tokenFile: "$sa/token"
contexts:
  - name: "$KUBE_CONTEXT"
    context:
      cluster: "$KUBE_CONTEXT"
      user: runner-service-account
current-context: "$KUBE_CONTEXT"
YAML
printf 'KUBECONFIG=%s\n' "$out" >>"$GITHUB_ENV"
printf 'wrote %s (context %s, service account of this pod)\n' "$out" "$KUBE_CONTEXT"
