#!/usr/bin/env bash
# Installs what is missing, builds a release holdfastd and starts it in the foreground with embedded
# defaults: loopback (127.0.0.1:7070, shard i on port 7070+i), one shard per CPU, durability fsync,
# data under ./data of the project, backups (holdfast backup --to) under ./backups. Extra arguments go to holdfastd (see `holdfastd --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=build-release
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dbuildtype=release -Dtests=false >/dev/null
fi
ninja -C "$build" >/dev/null
echo "holdfast: starting holdfastd on 127.0.0.1:7070 (data in ./data); CLI: $build/client/holdfast" >&2
exec "$build/engine/holdfastd" --listen 127.0.0.1:7070 --data-dir ./data --backup-root ./backups "$@"
