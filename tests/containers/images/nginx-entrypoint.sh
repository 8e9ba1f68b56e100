#!/bin/sh
# The official nginx image's template step: fill in only variables that are set, so nginx's own
# $host, $remote_addr, ... stay as they are.
set -eu
# And its local-resolvers step, for a `resolver` directive: the first nameserver of
# /etc/resolv.conf only. Docker lists one (its own); podman lists its network's DNS first, then
# the host's, which knows no service names, and nginx asks its resolvers in turn.
if [ -n "${NGINX_ENTRYPOINT_LOCAL_RESOLVERS:-}" ]; then
    NGINX_LOCAL_RESOLVERS=$(awk '$1=="nameserver" {print $2; exit}' /etc/resolv.conf)
    export NGINX_LOCAL_RESOLVERS
fi
defined=$(env | cut -d= -f1 | sed 's/^/$/' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] || continue
    envsubst "$defined" < "$template" > "/etc/nginx/conf.d/$(basename "$template" .template)"
done
exec "$@"
