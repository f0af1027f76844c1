#!/bin/sh
# What a make target needs on this machine, checked before it does anything else (no virtualenv is
# built, nothing is created): each missing program is named with the one command that gets it.
#   pulumi      the Pulumi CLI at PULUMI_VERSION (the version this project is tested with). When it is
#               missing or another version, the pinned one is installed into TOOLS (the project's
#               .tools/pulumi, first on make's PATH), its checksum verified against Pulumi's release
#               checksums; when that cannot be done, the command that installs it is printed.
#   docker      a Docker engine that answers `docker info` (the local stack)
#   docker-for-image  the same, as a warning (a gcp stack's `up` builds the sample image with it)
#   gcloud      the Google Cloud CLI
#   adc         Application Default Credentials (what `gcloud auth application-default login` writes)
#   gh          the GitHub CLI, 2.31 or newer (`gh variable`)
#   backend:S   not a requirement: says where stack S keeps its Pulumi state, plainly when that is
#               a folder on this machine
# POSIX sh on purpose: macOS's bash is 3.2.
#
# Usage: need.sh CHECK...         (the Makefile's targets)
#        need.sh install-pulumi   (make pulumi-cli)
set -eu

PULUMI_VERSION=${PULUMI_VERSION:?set by the Makefile}
TOOLS=${TOOLS:?set by the Makefile}
PULUMI_RELEASES=${PULUMI_RELEASES:-https://get.pulumi.com/releases/sdk}
PULUMI_INSTALL_COMMAND="curl -fsSL https://get.pulumi.com | sh -s -- --version $PULUMI_VERSION"
GH_MIN=2.31

say() { printf '%s\n' "$*" >&2; }

# Failures are collected, so one run names everything that is missing.
failed=
fail() {
  failed=1
  say "$*"
}

pulumi_version() {
  command -v pulumi >/dev/null 2>&1 || return 1
  pulumi version 2>/dev/null | head -n 1
}

# linux-x64, darwin-arm64, ...: how Pulumi names its release archives.
platform() {
  case $(uname -s) in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) return 1 ;;
  esac
  case $(uname -m) in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) return 1 ;;
  esac
  printf '%s-%s' "$os" "$arch"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}

download() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1"
  else
    wget -q -O "$2" "$1"
  fi
}

# Downloads the pinned release and its checksums file, refuses an archive whose SHA-256 is not the
# one listed for it, and only then replaces TOOLS/pulumi. Fails (status 1) with the reason on stderr.
install_pulumi() {
  if ! target=$(platform); then
    say "no Pulumi release for $(uname -s) $(uname -m) to install here"
    return 1
  fi
  if ! { command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1; } \
      || ! { command -v sha256sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1; }; then
    say "cannot download and verify here (needs curl or wget, and sha256sum or shasum)"
    return 1
  fi
  archive="pulumi-v$PULUMI_VERSION-$target.tar.gz"
  sums="pulumi-$PULUMI_VERSION-checksums.txt"
  work=$(mktemp -d)
  # shellcheck disable=SC2064  # expand now: the trap must remove this very folder
  trap "rm -rf '$work'" EXIT
  say "Installing the Pulumi CLI $PULUMI_VERSION into $TOOLS/pulumi (from $PULUMI_RELEASES, checksum verified)..."
  if ! download "$PULUMI_RELEASES/$sums" "$work/$sums" || ! download "$PULUMI_RELEASES/$archive" "$work/$archive"; then
    say "could not download $PULUMI_RELEASES/$archive and its checksums"
    return 1
  fi
  expected=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$work/$sums")
  actual=$(sha256_of "$work/$archive")
  if [ -z "$expected" ]; then
    say "REFUSED: $sums lists no checksum for $archive"
    return 1
  fi
  if [ "$expected" != "$actual" ]; then
    say "REFUSED: $archive has SHA-256 $actual, but $sums says $expected; nothing was installed"
    return 1
  fi
  mkdir "$work/x"
  tar -xzf "$work/$archive" -C "$work/x"
  # The archive holds pulumi/ with the binaries (older releases: pulumi/bin/).
  bin="$work/x/pulumi"
  [ -d "$bin/bin" ] && bin="$bin/bin"
  if [ ! -x "$bin/pulumi" ]; then
    say "REFUSED: $archive has no pulumi/pulumi"
    return 1
  fi
  mkdir -p "$TOOLS"
  rm -rf "$TOOLS/pulumi.new" "$TOOLS/pulumi"
  mkdir "$TOOLS/pulumi.new"
  mv "$bin" "$TOOLS/pulumi.new/bin"
  mv "$TOOLS/pulumi.new" "$TOOLS/pulumi"
  say "Installed: $("$TOOLS/pulumi/bin/pulumi" version)"
}

need_pulumi() {
  found=$(pulumi_version) || found=
  [ "$found" = "v$PULUMI_VERSION" ] && return 0
  if [ -n "$found" ]; then
    say "The Pulumi CLI here is $found; this project is tested with v$PULUMI_VERSION."
  else
    say "The Pulumi CLI (v$PULUMI_VERSION, the version this project is tested with) is not installed."
  fi
  # The Makefile puts TOOLS/pulumi/bin first on PATH: once installed there, it is the one used.
  if (install_pulumi) && [ "$(pulumi_version)" = "v$PULUMI_VERSION" ]; then
    return 0
  fi
  fail "Install the Pulumi CLI v$PULUMI_VERSION with:
  $PULUMI_INSTALL_COMMAND
(or see https://www.pulumi.com/docs/install/), then rerun. (Another version, on purpose: PULUMI_VERSION=X.Y.Z.)"
}

# $1: fail (a stop) or say (a warning, for what only some configs need).
need_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    $1 "Docker is not installed, and $2 uses it: install Docker Engine
  (https://docs.docker.com/engine/install/) or, on a Mac, Docker Desktop or: brew install colima docker && colima start"
  elif ! docker info >/dev/null 2>&1; then
    $1 "Docker is installed, and $2 uses it, but its engine does not answer 'docker info': start it
  (Docker Desktop, colima start, or sudo systemctl start docker), or join the docker group, then rerun."
  fi
}

need_gcloud() {
  command -v gcloud >/dev/null 2>&1 && return 0
  fail "The Google Cloud CLI (gcloud) is not installed: https://cloud.google.com/sdk/docs/install"
}

need_adc() {
  config=${CLOUDSDK_CONFIG:-${HOME:-}/.config/gcloud}
  if [ -n "${GOOGLE_APPLICATION_CREDENTIALS:-}" ]; then
    [ -r "$GOOGLE_APPLICATION_CREDENTIALS" ] && return 0
    fail "GOOGLE_APPLICATION_CREDENTIALS names $GOOGLE_APPLICATION_CREDENTIALS, which cannot be read."
    return 0
  fi
  if [ -r "$config/application_default_credentials.json" ] || [ -n "${GOOGLE_CREDENTIALS:-}" ] \
      || [ -n "${GOOGLE_OAUTH_ACCESS_TOKEN:-}" ]; then
    return 0
  fi
  fail "No Google credentials for Pulumi (Application Default Credentials): as a project owner, run
  gcloud auth application-default login"
}

need_gh() {
  if ! command -v gh >/dev/null 2>&1; then
    fail "The GitHub CLI (gh, $GH_MIN or newer) is not installed: https://cli.github.com/ ; the bootstrap's
  config needs it (gh api ... --jq .id) and its output is gh commands to paste."
    return 0
  fi
  version=$(gh --version 2>/dev/null | sed -n 's/^gh version \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)
  major=${version%%.*} minor=${version#*.}
  if [ -z "$version" ] || [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt "${GH_MIN#2.}" ]; }; then
    fail "gh ${version:-of an unknown version} is too old: $GH_MIN or newer has gh variable (https://cli.github.com/)."
  fi
}

# Where a stack's state lives. Not a stop: the local stack is meant to keep it here.
tell_backend() {
  stack=$1 url=${PULUMI_BACKEND_URL:-}
  case $url in
    file://*)
      [ "$stack" = local ] && return 0
      say "WARNING: stack $stack keeps its Pulumi state in ${url#file://}, a folder on this machine."
      say "  The cloud resources it creates would be tracked only here: lost with this folder, unknown to"
      say "  CI and to everyone else. Use the state bucket the bootstrap made:"
      say "  PULUMI_BACKEND_URL=gs://YOUR-STATE-BUCKET make ... (docs/bootstrap.md)" ;;
    "") say "Stack $stack: Pulumi state in your Pulumi Cloud account (PULUMI_BACKEND_URL is empty)." ;;
    *) say "Stack $stack: Pulumi state in $url" ;;
  esac
}

main() {
  if [ "${1:-}" = install-pulumi ]; then
    install_pulumi
    return
  fi
  for check in "$@"; do
    case $check in
      pulumi) need_pulumi ;;
      docker) need_docker fail "this stack (its registry and the sample image run on your Docker)" ;;
      # A warning only: a gcp stack builds the sample image locally unless sampleImage.enabled is false.
      docker-for-image) need_docker say "pulumi up (it builds the sample image unless sampleImage.enabled is false)" ;;
      gcloud) need_gcloud ;;
      adc) need_adc ;;
      gh) need_gh ;;
      backend:*) tell_backend "${check#backend:}" ;;
      *) say "need.sh: unknown check $check"; exit 2 ;;
    esac
  done
  if [ -n "$failed" ]; then
    say "Nothing was done: install what is named above, then rerun."
    exit 1
  fi
}

main "$@"
