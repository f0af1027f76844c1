#!/bin/bash
# Garbage collection for registries that share one bucket (several VMs, or the group): one object in
# the bucket, the window, says "every registry read-only"; it lasts GC_WINDOW_SECONDS from the time
# Cloud Storage created it (its timeCreated, never a time written in it). Every VM runs this script:
#   begin BUCKET   open the window (exit 0: this VM collects; exit 1: a window is open already, skip;
#                  255: an error). ExecCondition of registry-gc.service.
#   check BUCKET   before collecting: every registry that beat recently (a member) has acknowledged
#                  this window read-only; else exit 1 naming the others (the unit fails, `end` closes).
#   end BUCKET     close the window this VM opened (nothing if it opened none), unless the collector
#                  container still runs. ExecStopPost.
#   mode BUCKET [--at-start]
#                  write the registry's mode (read-only while a window is open, or when the window
#                  cannot be read) to the environment file registry.service reads, and restart the
#                  registry when the mode changed; then beat (registry-maintenance/members/INSTANCE)
#                  and, read-only in an open window, acknowledge it (registry-maintenance/acks/
#                  GENERATION/INSTANCE). --at-start only writes the mode (ExecStartPre). Every minute.
# The access token goes to curl in a private file (-H @file), never on a command line.
# METADATA_URL, STORAGE_URL, GC_WINDOW_STATE, REGISTRY_MODE_ENV and CURL_MAX_TIME exist so tests can use
# a local fake.
set -Eeuo pipefail
# Any failure is 255: ExecCondition takes 1-254 for "skip", and an error must not pass for one.
trap 'exit 255' ERR

metadata="${METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}"
storage="${STORAGE_URL:-https://storage.googleapis.com}"
state="${GC_WINDOW_STATE:-/run/registry-gc-window}"
mode_env="${REGISTRY_MODE_ENV:-/run/registry-mode.env}"
window_seconds="${GC_WINDOW_SECONDS:-3720}"
# A member beat within this long: its ack is required. Beats come every 60-105 s plus a run's calls;
# erring long only costs a skipped collection when a VM was deleted in the last few minutes.
member_seconds="${GC_MEMBER_SECONDS:-300}"
prefix="registry-maintenance" # outside the registry's rootdirectory (/registry)
object="${prefix}%2Fgc-window"
action="$1"
bucket="$2"
# Every call ends within about 25 s (a last attempt may start at 15 s), so a whole `mode` run fits well
# inside registry-mode.service's TimeoutStartSec.
curl_opts=(-sS --connect-timeout 5 --max-time "${CURL_MAX_TIME:-10}" --retry 2 --retry-delay 1 --retry-max-time 15
  --retry-connrefused)
readonly_mode="REGISTRY_CONFIG=config-readonly.yml"
writable_mode="REGISTRY_CONFIG=config.yml"

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

instance_name() {
  curl "${curl_opts[@]}" -f -H 'Metadata-Flavor: Google' "${metadata}/instance/name"
}

# A string field of the JSON in file $2 (GCS prints one key a line; a single line works too).
field() {
  sed -nE "s/.*\"$1\" *: *\"([^\"]*)\".*/\1/p" "$2" | head -n 1
}

# Cloud Storage's clock, from the Date of the answer whose headers are in $1: no VM's clock counts.
server_now() {
  local date
  date="$(sed -nE 's/^date: *([^\r]*).*/\1/ip' "$1" | head -n 1)"
  date -u -d "${date}" +%s
}

# Reads the window object's metadata (not its body): window_generation (empty when there is none),
# window_owner, window_open (yes/no: created less than window_seconds ago by the server's clock).
# Returns 1 when it cannot tell.
read_window() {
  local status created
  window_generation="" window_owner="" window_open=no
  status="$(curl "${curl_opts[@]}" -H @"${work}/auth" -D "${work}/headers" -o "${work}/window" \
    -w '%{http_code}' "${storage}/storage/v1/b/${bucket}/o/${object}")" || true
  case "${status}" in
  200)
    window_generation="$(field generation "${work}/window")"
    window_owner="$(field owner "${work}/window")"
    created="$(date -u -d "$(field timeCreated "${work}/window")" +%s)" || return 1
    [ -n "${window_generation}" ] || return 1
    if [ $((created + window_seconds)) -gt "$(server_now "${work}/headers")" ]; then window_open=yes; fi
    ;;
  404) ;;
  *)
    echo "gc-window: reading gs://${bucket}/${prefix}/gc-window: HTTP ${status}" >&2
    return 1
    ;;
  esac
}

# Creates the window only if there is none, carrying our nonce as its owner; prints the HTTP status.
# The body (a deadline) is for registries still running an older script, which read it.
create_window() {
  local boundary="gc-window-${nonce}"
  printf -- '--%s\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{"name": "%s/gc-window", "metadata": {"owner": "%s"}}\r\n--%s\r\nContent-Type: text/plain\r\n\r\n%s\r\n--%s--\r\n' \
    "${boundary}" "${prefix}" "${nonce}" "${boundary}" "$(($(date +%s) + window_seconds))" "${boundary}" \
    >"${work}/multipart"
  curl "${curl_opts[@]}" -X POST -H @"${work}/auth" -H "Content-Type: multipart/related; boundary=${boundary}" \
    --data-binary @"${work}/multipart" -o "${work}/created" -w '%{http_code}' \
    "${storage}/upload/storage/v1/b/${bucket}/o?uploadType=multipart&ifGenerationMatch=0" || true
}

delete_window() {
  curl "${curl_opts[@]}" -X DELETE -H @"${work}/auth" -o /dev/null -w '%{http_code}' \
    "${storage}/storage/v1/b/${bucket}/o/${object}?ifGenerationMatch=$1" || true
}

# Writes a small object (no precondition: the latest write wins); returns 1 unless stored.
put() {
  local status
  status="$(curl "${curl_opts[@]}" -X POST -H @"${work}/auth" -H 'Content-Type: text/plain' \
    --data-binary "$2" -o /dev/null -w '%{http_code}' \
    "${storage}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=$1")" || true
  [ "${status}" = 200 ] || { echo "gc-window: writing gs://${bucket}/${1//%2F//}: HTTP ${status}" >&2; return 1; }
}

# Lists the objects under a prefix into $2 as "NAME UPDATED-EPOCH" lines, and the server's now into $3.
list() {
  local status
  status="$(curl "${curl_opts[@]}" -H @"${work}/auth" -D "${work}/list-headers" -o "${work}/list" \
    -w '%{http_code}' \
    "${storage}/storage/v1/b/${bucket}/o?prefix=$1&maxResults=1000&fields=items(name,updated)")" || true
  [ "${status}" = 200 ] || { echo "gc-window: listing gs://${bucket}/${1//%2F//}: HTTP ${status}" >&2; return 1; }
  server_now "${work}/list-headers" >"$3"
  : >"$2"
  # One object a line (items hold no nested object with these fields), then its two fields.
  tr -d '\n' <"${work}/list" | sed 's/}/}\n/g' | while IFS= read -r item; do
    name="$(sed -nE 's/.*"name" *: *"([^"]*)".*/\1/p' <<<"${item}")"
    updated="$(sed -nE 's/.*"updated" *: *"([^"]*)".*/\1/p' <<<"${item}")"
    [ -n "${name}" ] && [ -n "${updated}" ] || continue
    echo "${name##*/} $(date -u -d "${updated}" +%s)"
  done >"$2"
}

case "${action}" in
begin)
  auth || exit 255
  nonce="$(instance_name)-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  status="$(create_window)"
  if [ "${status}" != 200 ]; then
    # A create whose answer was lost (curl retried and got 412, or timed out) may still be ours.
    read_window || exit 255
    if [ "${window_owner}" = "${nonce}" ]; then
      status=200
    elif [ "${window_open}" = yes ]; then
      echo "gc-window: a collection window (generation ${window_generation}) is open; not collecting here"
      exit 1
    elif [ "${status}" = 412 ]; then
      # A window past its time: its collector died. Remove that generation only, and try once more.
      [ -z "${window_generation}" ] || delete_window "${window_generation}" >/dev/null
      status="$(create_window)"
      if [ "${status}" != 200 ]; then
        read_window || exit 255
        [ "${window_owner}" = "${nonce}" ] && status=200
      fi
    fi
  else
    window_generation="$(field generation "${work}/created")"
    if [ -z "${window_generation}" ]; then # an answer without it: ask, rather than leave a window no one closes
      read_window || exit 255
      [ "${window_owner}" = "${nonce}" ] || { echo "gc-window: the window created is not ours" >&2; exit 255; }
    fi
  fi
  if [ "${status}" != 200 ]; then
    [ "${status}" = 412 ] && { echo "gc-window: another VM opened the window first"; exit 1; }
    echo "gc-window: opening the window: HTTP ${status}" >&2
    exit 255
  fi
  printf '%s\n' "${window_generation}" >"${state}"
  echo "gc-window: window ${window_generation} open for ${window_seconds} s; registries go read-only"
  ;;
check)
  if [ ! -s "${state}" ]; then
    echo "gc-window: no window opened by this VM" >&2
    exit 1
  fi
  generation="$(cat "${state}")"
  auth || exit 1
  read_window || exit 1
  if [ "${window_generation}" != "${generation}" ] || [ "${window_open}" != yes ]; then
    echo "gc-window: window ${generation} is gone or past its time; not collecting" >&2
    exit 1
  fi
  list "${prefix}%2Fmembers%2F" "${work}/members" "${work}/now" || exit 1
  list "${prefix}%2Facks%2F${generation}%2F" "${work}/acks" "${work}/acks-now" || exit 1
  now="$(cat "${work}/now")"
  members=() missing=()
  while read -r name beat; do
    [ $((now - beat)) -le "${member_seconds}" ] || continue
    members+=("${name}")
    grep -qx "${name} [0-9]*" "${work}/acks" || missing+=("${name}")
  done <"${work}/members"
  if [ "${#members[@]}" -eq 0 ]; then
    echo "gc-window: ERROR: no registry beat in the last ${member_seconds} s, not even this one; not collecting" >&2
    exit 1
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "gc-window: ERROR: not collecting: no read-only acknowledgement of window ${generation} from ${missing[*]}" \
      "(a registry that did not switch; a VM that runs units from an older user-data must be stopped and" \
      "started)" >&2
    exit 1
  fi
  echo "gc-window: every registry on the bucket is read-only (${members[*]}); collecting"
  ;;
end)
  [ -s "${state}" ] || exit 0 # VMs that skipped the window run this too: no token, no call
  # ExecStopPost removed the collector; if it still runs (a stuck `docker rm`), the store stays read-only.
  # Asked by name and state, not by an error message's wording; no answer from Docker keeps it too.
  if ! running="$(docker ps --quiet --filter 'name=^registry-gc$' --filter status=running)" || [ -n "${running}" ]; then
    echo "gc-window: ERROR: the collector container still runs (or Docker does not answer); window left open" >&2
    exit 1
  fi
  auth || exit 255
  status="$(delete_window "$(cat "${state}")")"
  rm -f "${state}"
  echo "gc-window: window closed (HTTP ${status}); registries go read-write"
  ;;
mode)
  # Fail closed: the registry container reaches the bucket on its own, so this script's failure to
  # read the window says nothing about the registry's writes. Unknown window: read-only.
  wanted="${readonly_mode}"
  authorised=no known=no instance=""
  if auth; then authorised=yes; fi
  if [ "${authorised}" = yes ] && read_window; then
    known=yes
    [ "${window_open}" = yes ] || wanted="${writable_mode}"
  else
    echo "gc-window: ERROR: cannot read the window; registry read-only until it can" >&2
  fi
  current="$(cat "${mode_env}" 2>/dev/null || echo "${writable_mode}")"
  printf '%s\n' "${wanted}" >"${mode_env}.tmp"
  mv "${mode_env}.tmp" "${mode_env}"
  [ "${3:-}" != "--at-start" ] || exit 0
  # The beat comes before the restart: a registry whose switch hangs or fails still counts as a
  # member, and its missing acknowledgement stops the collection.
  if [ "${authorised}" = yes ]; then
    instance="$(instance_name)" || instance=""
    [ -z "${instance}" ] || put "${prefix}%2Fmembers%2F${instance}" "${wanted}" || true
  fi
  if [ "${wanted}" != "${current}" ]; then
    echo "gc-window: ${wanted}; restarting the registry"
    systemctl restart registry.service # returns once the old registry has stopped and the new started
  fi
  # Only now: the registry that runs is the read-only one this open window asks for.
  if [ "${known}" = yes ] && [ "${window_open}" = yes ] && [ -n "${instance}" ]; then
    put "${prefix}%2Facks%2F${window_generation}%2F${instance}" "read-only"
  fi
  ;;
*)
  echo "usage: gc-window.sh begin|check|end|mode BUCKET [--at-start]" >&2
  exit 2
  ;;
esac
