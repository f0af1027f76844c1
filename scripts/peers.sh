#!/bin/sh
# Where `make test` runs the suite. Its integration tests start real programs (the "peers"; the lists
# come from the Makefile): PEER_COMMANDS from Debian's PEER_PACKAGES, and PEER_TOOLS that are not
# Debian packages (the Docker CLI, gcloud), which machines of CI's kind come with.
#   here       they are installed, or the Debian ones can be: root or passwordless sudo, and apt-get
#   container  they cannot, and Docker or Podman answers: the suite runs in .devcontainer/Dockerfile's
#              image, the project mounted read-only, nothing installed on this machine
#   neither    say which peers are missing and the one command that gets them, and fail
# With CI=true only "here" counts: a peer that is missing after the install fails the run, loudly.
# POSIX sh on purpose: macOS's bash is 3.2.
#
# Usage: peers.sh install        (make peers)
#        peers.sh test [ARGS]    (make test: ARGS go to pytest)
set -eu

PEER_PACKAGES=${PEER_PACKAGES:?set by the Makefile}
PEER_COMMANDS=${PEER_COMMANDS:?set by the Makefile}
MAKE=${MAKE:-make}
# Debian keeps server programs (nginx) in /usr/sbin, which is not on a normal user's PATH: look there
# before calling a peer missing, and hand the same PATH to the suite. PEER_SYSTEM_DIRS overrides the
# list (the tests give their fake machines their own).
for dir in ${PEER_SYSTEM_DIRS-/usr/local/sbin /usr/sbin /sbin}; do
  case ":$PATH:" in
    *":$dir:"*) ;;
    *) PATH=$PATH:$dir ;;
  esac
done
export PATH
IMAGE=${TEST_IMAGE:-image-sharing-test}
DOCKERFILE=.devcontainer/Dockerfile

say() { printf '%s\n' "$*" >&2; }

missing_of() {
  for c in $1; do
    command -v "$c" >/dev/null 2>&1 || printf '%s ' "$c"
  done
}

# The Debian package that provides command $1 (the two lists pair up by position).
package_of() {
  i=0
  for c in $PEER_COMMANDS; do
    i=$((i + 1))
    if [ "$c" = "$1" ]; then
      # shellcheck disable=SC2086  # word splitting is the point: the n-th package
      set -- $PEER_PACKAGES
      shift $((i - 1))
      printf '%s' "$1"
      return
    fi
  done
}

packages_of() {
  for c in $1; do printf '%s ' "$(package_of "$c")"; done
}

# Empty when root, "sudo" when sudo works without a password, fails otherwise: never prompt for a
# password to put server packages on someone's laptop.
installer_prefix() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" = 0 ]; then
    printf ''
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    printf 'sudo'
  else
    return 1
  fi
}

install_here() {
  prefix=$1 missing=$2
  say "Installing the test peers from Debian: $(packages_of "$missing")"
  $prefix apt-get update -qq
  # shellcheck disable=SC2046  # one word per package
  $prefix env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(packages_of "$missing") >/dev/null
  still=$(missing_of "$PEER_COMMANDS")
  if [ -n "$still" ]; then
    say "ERROR: still missing after apt-get install: $still"
    exit 1
  fi
  case " $missing " in
    *" docker-registry "*)
      if [ "${CI:-}" != true ] && [ -d /run/systemd/system ]; then
        say "Note: Debian's docker-registry package starts a registry service on port 5000, which the tests"
        say "do not use and make up needs: $prefix systemctl disable --now docker-registry"
      fi ;;
  esac
}

# docker or podman whose engine answers; CONTAINER=podman picks one.
container_runtime() {
  for rt in ${CONTAINER:-docker podman}; do
    if command -v "$rt" >/dev/null 2>&1 && "$rt" info >/dev/null 2>&1; then
      printf '%s' "$rt"
      return 0
    fi
  done
  return 1
}

in_container() {
  rt=$1 missing=$2
  shift 2
  say "Not installed here: ${missing}(and not all installable with apt-get as root or passwordless sudo)."
  say "Running the suite in a container instead: $rt, image $IMAGE from $DOCKERFILE."
  "$rt" build --file "$DOCKERFILE" --tag "$IMAGE" .
  tty=
  if [ -t 1 ]; then tty=--tty; fi
  # Read-only mount, no bytecode or pytest cache: nothing is written into the project as the
  # container's root. No network: every test talks to loopback only.
  exec "$rt" run --rm $tty --network none --security-opt label=disable \
    --volume "$(pwd):/project:ro" --workdir /project --env PYTHONDONTWRITEBYTECODE=1 \
    "$IMAGE" python -m pytest -p no:cacheprovider "$@"
}

# How to get a peer that is not a Debian package, on a machine that does not run the container.
tool_hint() {
  case $1 in
    gcloud) printf 'the Google Cloud CLI: https://cloud.google.com/sdk/docs/install' ;;
    docker) printf 'the Docker CLI: https://docs.docker.com/engine/install/' ;;
    *) printf 'see docs/development.md' ;;
  esac
}

explain_missing() {
  missing=$1 tools=$2
  say "make test needs programs that the integration tests start; these are not installed here:"
  if [ "$(uname -s)" = Darwin ] || ! command -v apt-get >/dev/null 2>&1; then
    for c in $missing; do say "  $c (Debian package $(package_of "$c")): runs in the test container"; done
    for c in $tools; do say "  $c: runs in the test container"; done
    if [ "$(uname -s)" = Darwin ]; then
      say "On a Mac, make test runs the suite in a Debian container. Get a container runtime, start it,"
      say "and rerun make test. One of:"
      say "  Docker Desktop: https://docs.docker.com/desktop/setup/install/mac-install/"
      say "  brew install colima docker && colima start"
      say "  brew install podman && podman machine init && podman machine start"
    else
      say "This is not Debian: install Docker or Podman (e.g. sudo dnf install podman), then rerun make test;"
      say "it runs the suite in a Debian container."
    fi
  else
    for c in $missing; do say "  $c: sudo apt-get install --no-install-recommends $(package_of "$c")"; done
    for c in $tools; do say "  $c: $(tool_hint "$c")"; done
    if [ -n "$missing" ]; then
      packages=$(packages_of "$missing")
      say "All at once: sudo apt-get install --no-install-recommends ${packages% }"
    fi
    say "Or, installing nothing here: with Docker or Podman working, make test runs the suite in a container."
  fi
  for rt in docker podman; do
    if ! command -v "$rt" >/dev/null 2>&1; then
      continue
    elif "$rt" info >/dev/null 2>&1; then
      say "($rt works here: make test runs the suite in a container with it.)"
    else
      say "($rt is installed but its engine does not answer '$rt info': start it, e.g. Docker Desktop,"
      say " colima start, podman machine start or sudo systemctl start docker, then rerun.)"
    fi
  done
}

main() {
  action=${1:?install or test}
  shift
  missing=$(missing_of "$PEER_COMMANDS")
  tools=$(missing_of "${PEER_TOOLS:-}")
  # Install the Debian peers when that makes this machine complete, and always on CI and for make peers.
  if [ -n "$missing" ] && { [ -z "$tools" ] || [ "${CI:-}" = true ] || [ "$action" = install ]; } \
      && prefix=$(installer_prefix); then
    install_here "$prefix" "$missing"
    missing=
  fi
  if [ -z "$missing$tools" ]; then
    [ "$action" = test ] && exec "$MAKE" --no-print-directory test-here PYTEST_ARGS="$*"
    return 0
  fi
  if [ "${CI:-}" = true ]; then
    say "ERROR: CI=true and test peers are missing: $missing$tools"
    [ -z "$missing" ] || say "The Debian ones install with apt-get as root (or passwordless sudo); neither works here."
    for c in $tools; do say "  $c: $(tool_hint "$c")"; done
    say "Nothing is skipped on CI: fix the machine, not the tests."
    exit 1
  fi
  if [ "$action" = test ] && rt=$(container_runtime); then
    in_container "$rt" "$missing$tools" "$@"
  fi
  explain_missing "$missing" "$tools"
  exit 1
}

main "$@"
