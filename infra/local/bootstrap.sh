#!/bin/sh
# Installs what the repo's commands need on a fresh Debian machine with only Node.js and npm:
# pnpm (the version pinned in package.json), the workspace's dependencies, and MariaDB and nginx
# from Debian's packages when their binaries are missing; then builds. Safe to run every time.
# Arguments name further Debian packages whose command of the same name this command needs,
# installed only when missing: `npm test` asks for chromium (the report's browser test) and
# faketime (the shifted-clock tests); the demo, the stack and the benchmarks need neither.
set -eu
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"

pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$pnpm_version" ]; then
  echo "» installing pnpm $pnpm_version"
  npm install --global --no-fund --no-audit --loglevel=error "pnpm@$pnpm_version" >/dev/null
fi

if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  echo "» installing dependencies"
  pnpm install --frozen-lockfile --reporter=append-only --loglevel=warn
fi

missing=""
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
if [ -z "${DATABASE_URL:-}" ]; then
  command -v mariadbd >/dev/null 2>&1 || missing="$missing mariadb-server"
  command -v mariadb >/dev/null 2>&1 || missing="$missing mariadb-client"
fi
for extra in "$@"; do
  command -v "$extra" >/dev/null 2>&1 || missing="$missing $extra"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing Debian packages:$missing — install them (apt-get install$missing) or run this as root" >&2
    exit 1
  fi
  echo "» installing$missing from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The stack, the demo, the benchmarks and the suite's end-to-end runs start the services as they
# ship: compiled JavaScript (`npm run build`). Incremental: a no-op when no source changed.
node_modules/.bin/tsc -b tsconfig.build.json
