#!/bin/sh
# Installs what the repo's commands need on a fresh Debian machine with only Node.js and npm:
# pnpm (the version pinned in package.json), the workspace's dependencies, and MariaDB and nginx
# from Debian's packages when their binaries are missing; then builds. Safe to run every time.
# Arguments name further Debian packages whose command of the same name this command needs
# (`package:command` when the names differ), installed only when missing: `npm test` asks for
# chromium (the report's browser test), faketime (the shifted-clock tests) and prometheus for its
# promtool (the alert rules' tests); the demo, the stack and the benchmarks need none of them.
# `--tools` stops after the dependencies: lint, format and typecheck need no database, nginx or build.
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
[ "${1:-}" = --tools ] && exit 0

missing=""
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
if [ -z "${DATABASE_URL:-}" ]; then
  command -v mariadbd >/dev/null 2>&1 || missing="$missing mariadb-server"
  command -v mariadb >/dev/null 2>&1 || missing="$missing mariadb-client"
fi
for extra in "$@"; do
  command -v "${extra#*:}" >/dev/null 2>&1 || missing="$missing ${extra%%:*}"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing Debian packages:$missing — install them (apt-get install$missing) or run this as root" >&2
    exit 1
  fi
  echo "» installing$missing from Debian packages"
  # Debian's prometheus package starts a Prometheus server on install and enables it at boot;
  # only its promtool is wanted. A policy-rc.d refusing that one service keeps it from starting
  # under any init (a policy already there is left alone); then it is disabled, and stopped in
  # case that policy let it start.
  policy=/usr/sbin/policy-rc.d
  case " $missing " in *" prometheus "*) if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# infra/local/bootstrap.sh, while installing: promtool only, no Prometheus server\n[ "$1" = prometheus ] && exit 101\nexit 0\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi ;; esac
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  case " $missing " in *" prometheus "*)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    else
      update-rc.d prometheus disable >/dev/null 2>&1 || true
      /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi ;;
  esac
fi

# The stack, the demo, the benchmarks and the suite's end-to-end runs start the services as they
# ship: compiled JavaScript (`npm run build`). Incremental: a no-op when no source changed.
node_modules/.bin/tsc -b tsconfig.build.json
