#!/bin/bash
# Fetches the registry's secrets from Secret Manager into files before each start of the registry,
# so no secret sits in the instance metadata. Runs on Container-Optimized OS (bash, curl, sed, base64).
# Usage: fetch-secrets.sh PROJECT SECRET_ID=DEST [SECRET_ID=DEST ...]
# METADATA_URL and SECRET_MANAGER_URL exist so the tests can point it at a local fake.
# The access token reaches curl in a private file (-H @file), never on a command line that any
# process on the VM can read in /proc/*/cmdline.
set -euo pipefail

metadata="${METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}"
api="${SECRET_MANAGER_URL:-https://secretmanager.googleapis.com/v1}"
project="$1"
shift
# Bounded attempts, retried on refused connections too: at boot the network may come up a moment
# after the unit starts, and a hung request must not hold the registry back.
curl_opts=(-sSf --connect-timeout 5 --max-time "${FETCH_MAX_TIME:-20}" --retry 5 --retry-delay 1
  --retry-connrefused)

token="$(curl "${curl_opts[@]}" -H 'Metadata-Flavor: Google' \
  "${metadata}/instance/service-accounts/default/token" |
  sed -nE 's/.*"access_token" *: *"([^"]+)".*/\1/p')"
if [ -z "${token}" ]; then
  echo "fetch-secrets: no access token from the metadata server" >&2
  exit 1
fi

umask 077
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
printf 'Authorization: Bearer %s\n' "${token}" >"${work}/auth" # printf is a builtin: no argv
for pair in "$@"; do
  name="${pair%%=*}"
  dest="${pair#*=}"
  mkdir -p "$(dirname "${dest}")"
  data="$(curl "${curl_opts[@]}" -H @"${work}/auth" \
    "${api}/projects/${project}/secrets/${name}/versions/latest:access" |
    sed -nE 's/.*"data" *: *"([^"]+)".*/\1/p')"
  if [ -z "${data}" ]; then
    echo "fetch-secrets: secret ${name} has no data" >&2
    exit 1
  fi
  printf '%s' "${data}" | base64 -d >"${dest}.tmp"
  mv "${dest}.tmp" "${dest}"
done
