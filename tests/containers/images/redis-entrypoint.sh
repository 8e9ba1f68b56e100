#!/bin/sh
# As the official redis image does: Redis's protected mode off (the compose network is private,
# and only the kcolors services reach it), whatever the command's own options.
if [ "${1:-}" = "redis-server" ]; then
    shift
    exec redis-server "$@" --protected-mode no
fi
exec "$@"
