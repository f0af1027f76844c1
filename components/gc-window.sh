#!/bin/bash
# Garbage collection for registries that share one bucket (several VMs, or the group): one object in
# the bucket, the window, says "every registry read-only until DEADLINE". Every VM runs this script:
#   begin BUCKET   open the window (exit 0: this VM collects; exit 1: a window is open already, skip;
#                  255: an error). ExecCondition of registry-gc.service.
#   end BUCKET     close the window this VM opened (nothing if it opened none). ExecStopPost.
#   mode BUCKET [--at-start]
#                  write the registry's mode (read-only while a window is open and not past its
#                  deadline) to the environment file registry.service reads, and restart the registry
#                  when the mode changed; --at-start only writes it (ExecStartPre). Every minute.
# The access token goes to curl in a private file (-H @file), never on a command line.
# METADATA_URL, STORAGE_URL, GC_WINDOW_STATE and REGISTRY_MODE_ENV exist so tests can use a local fake.
set -Eeuo pipefail
# Any failure is 255: ExecCondition takes 1-254 for "skip", and an error must not pass for one.
trap 'exit 255' ERR

metadata="${METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}"
storage="${STORAGE_URL:-https://storage.googleapis.com}"
state="${GC_WINDOW_STATE:-/run/registry-gc-window}"
mode_env="${REGISTRY_MODE_ENV:-/run/registry-mode.env}"
window_seconds="${GC_WINDOW_SECONDS:-3720}"
object="registry-maintenance%2Fgc-window" # outside the registry's rootdirectory (/registry)
action="$1"
bucket="$2"
# Every call ends within about 25 s (a last attempt may start at 15 s), so a whole `mode` run fits well
# inside registry-mode.service's TimeoutStartSec. CURL_MAX_TIME exists for tests.
curl_opts=(-sS --connect-timeout 5 --max-time "${CURL_MAX_TIME:-10}" --retry 2 --retry-delay 1 --retry-max-time 15
  --retry-connrefused)

umask 077
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# Writes the header file curl reads; returns 1 when the metadata server gives no token.
auth() {
  local token
  token="$(curl "${curl_opts[@]}" -f -H 'Metadata-Flavor: Google' \
    "${metadata}/instance/service-accounts/default/token" |
    sed -nE 's/.*"access_token" *: *"([^"]+)".*/\1/p')" || token=""
  if [ -z "${token}" ]; then
    echo "gc-window: no access token from the metadata server" >&2
    return 1
  fi
  printf 'Authorization: Bearer %s\n' "${token}" >"${work}/auth" # printf is a builtin: no argv
}

# Prints "GENERATION DEADLINE" of the window object, or nothing when there is none.
read_window() {
  local status generation
  status="$(curl "${curl_opts[@]}" -H @"${work}/auth" -D "${work}/headers" -o "${work}/body" \
    -w '%{http_code}' "${storage}/storage/v1/b/${bucket}/o/${object}?alt=media")" || true
  case "${status}" in
  200)
    generation="$(sed -nE 's/^x-goog-generation: *([0-9]+).*/\1/ip' "${work}/headers")"
    echo "${generation} $(tr -dc '0-9' <"${work}/body")"
    ;;
  404) ;;
  *)
    echo "gc-window: reading gs://${bucket}/registry-maintenance/gc-window: HTTP ${status}" >&2
    return 1
    ;;
  esac
}

create_window() {
  curl "${curl_opts[@]}" -X POST -H @"${work}/auth" -H 'Content-Type: text/plain' \
    --data-binary "$1" -o "${work}/created" -w '%{http_code}' \
    "${storage}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${object}&ifGenerationMatch=0"
}

delete_window() {
  curl "${curl_opts[@]}" -X DELETE -H @"${work}/auth" -o /dev/null -w '%{http_code}' \
    "${storage}/storage/v1/b/${bucket}/o/${object}?ifGenerationMatch=$1"
}

case "${action}" in
begin)
  auth || exit 255
  now="$(date +%s)"
  deadline=$((now + window_seconds))
  status="$(create_window "${deadline}")"
  if [ "${status}" = 412 ]; then
    window="$(read_window)" || exit 255
    read -r generation open_until <<<"${window:-0 0}"
    if [ -n "${window}" ] && [ "${open_until}" -gt "${now}" ]; then
      echo "gc-window: a collection window is open until $(date -u -d "@${open_until}"); not collecting here"
      exit 1
    fi
    # A window past its deadline: its collector died. Remove that one object only, and try once more.
    [ -z "${window}" ] || delete_window "${generation}" >/dev/null
    status="$(create_window "${deadline}")"
  fi
  if [ "${status}" != 200 ]; then
    [ "${status}" = 412 ] && { echo "gc-window: another VM opened the window first"; exit 1; }
    echo "gc-window: opening the window: HTTP ${status}" >&2
    exit 255
  fi
  sed -nE 's/.*"generation" *: *"([0-9]+)".*/\1/p' "${work}/created" >"${state}"
  echo "gc-window: window open until $(date -u -d "@${deadline}"); registries go read-only"
  ;;
end)
  [ -s "${state}" ] || exit 0 # VMs that skipped the window run this too: no token, no call
  auth || exit 255
  status="$(delete_window "$(cat "${state}")")"
  rm -f "${state}"
  echo "gc-window: window closed (HTTP ${status}); registries go read-write"
  ;;
mode)
  # Fail closed: the registry container reaches the bucket on its own, so this script's failure to
  # read the window says nothing about the registry's writes. Unknown window: read-only.
  wanted="REGISTRY_CONFIG=config-readonly.yml"
  if ! auth; then
    echo "gc-window: ERROR: cannot read the window; registry read-only until it can" >&2
  elif ! window="$(read_window)"; then
    echo "gc-window: ERROR: cannot read the window; registry read-only until it can" >&2
  else
    read -r _ open_until <<<"${window:-0 0}"
    if [ -z "${window}" ] || [ "${open_until}" -le "$(date +%s)" ]; then
      wanted="REGISTRY_CONFIG=config.yml"
    fi
  fi
  current="$(cat "${mode_env}" 2>/dev/null || echo "REGISTRY_CONFIG=config.yml")"
  printf '%s\n' "${wanted}" >"${mode_env}.tmp"
  mv "${mode_env}.tmp" "${mode_env}"
  if [ "${3:-}" != "--at-start" ] && [ "${wanted}" != "${current}" ]; then
    echo "gc-window: ${wanted}; restarting the registry"
    systemctl restart registry.service
  fi
  ;;
*)
  echo "usage: gc-window.sh begin|end|mode BUCKET [--at-start]" >&2
  exit 2
  ;;
esac
