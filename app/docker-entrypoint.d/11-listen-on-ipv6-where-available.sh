#!/bin/sh
# Listens on IPv6 as well, only where the host has it. An unconditional `listen [::]:8080` stops nginx
# from starting at all on a host without IPv6 ("socket() [::]:8080 failed (97: Address family not
# supported by protocol)"); such a kernel has no /proc/net/if_inet6 (the check the base image's own
# 10-listen-on-ipv6-by-default.sh makes, which leaves a changed default.conf alone).
# The base image's /docker-entrypoint.sh runs this before nginx, as the image's unprivileged user,
# so it writes under /tmp only; default.conf includes what it writes.
set -eu

IF_INET6=${IF_INET6:-/proc/net/if_inet6}
LISTEN_DIR=${NGINX_LISTEN_DIR:-/tmp/nginx-listen}

mkdir -p "$LISTEN_DIR"
if [ -f "$IF_INET6" ]; then
    echo 'listen [::]:8080;' > "$LISTEN_DIR/ipv6.conf"
    echo "$0: IPv6 available: listening on [::]:8080 as well"
else
    rm -f "$LISTEN_DIR/ipv6.conf"
    echo "$0: no IPv6 on this host ($IF_INET6 is missing): listening on IPv4 only"
fi
