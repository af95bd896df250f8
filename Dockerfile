# syntax=docker/dockerfile:1
# One image for every process of the topology (DESIGN §2): any service, the migrate job and
# `batch-worker run|daemon`. The process is chosen by working directory + command, exactly as the
# workspace's own `start` scripts launch it: compiled JavaScript (tsc, `npm run build`), no
# TypeScript loader at run time; `--conditions=compiled` makes the workspace packages resolve to
# their dist/ as well (their package.json exports):
#
#   service        workdir                     command
#   user-api       /app/services/user-api      node --conditions=compiled dist/server.js
#   coupon-api     /app/services/coupon-api    node --conditions=compiled dist/server.js
#   event-apply    /app/services/event-apply   node --conditions=compiled dist/server.js
#   batch daemon   /app/services/batch-worker  node --conditions=compiled dist/main.js daemon
#   batch run      /app/services/batch-worker  node --conditions=compiled dist/main.js run --period YYYY-MM
#   migrate job    /app/packages/db            node --conditions=compiled dist/cli/migrate.js

# The Node major the test suite runs on (CI and infra/local use the machine's Node 20).
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: every dependency (TypeScript included), then tsc -b into each workspace's dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The pnpm that package.json pins (`packageManager`), like infra/local/bootstrap.sh installs it.
COPY package.json ./
RUN npm install --global --no-fund --no-audit --loglevel=error "pnpm@$(node -p "require('./package.json').packageManager.split('@')[1]")"
# Manifests first, so a source-only change reuses the cached dependency layer.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/audit/package.json packages/audit/
COPY packages/cluster/package.json packages/cluster/
COPY packages/db/package.json packages/db/
COPY packages/domain/package.json packages/domain/
COPY packages/kit/package.json packages/kit/
COPY services/batch-worker/package.json services/batch-worker/
COPY services/coupon-api/package.json services/coupon-api/
COPY services/event-apply/package.json services/event-apply/
COPY services/user-api/package.json services/user-api/
COPY infra/local/package.json infra/local/
RUN pnpm install --frozen-lockfile --reporter=append-only --loglevel=warn
COPY tsconfig.base.json tsconfig.build.base.json tsconfig.build.json ./
COPY packages/ packages/
COPY services/ services/
COPY infra/local/ infra/local/
RUN pnpm exec tsc -b tsconfig.build.json

# ---- install: production dependencies of the workspace, nothing else, and the build's output ----
FROM ${NODE_IMAGE} AS install
WORKDIR /app
COPY package.json ./
RUN npm install --global --no-fund --no-audit --loglevel=error "pnpm@$(node -p "require('./package.json').packageManager.split('@')[1]")"
COPY --from=build /app/pnpm-lock.yaml /app/pnpm-workspace.yaml ./
COPY --from=build /app/packages/ packages/
COPY --from=build /app/services/ services/
COPY --from=build /app/infra/local/ infra/local/
# --prod: no tap, no typescript, no tsx, no drizzle-kit; the build stage's node_modules are replaced.
# Workspaces absent from the context (loadtest, infra/deploy) are simply not installed; the
# lockfile still has to match every manifest copied.
RUN find . -name node_modules -prune -exec rm -rf {} + \
  && pnpm install --prod --frozen-lockfile --reporter=append-only --loglevel=warn \
  && rm -rf /root/.local/share/pnpm /root/.cache

# ---- runtime: the installed tree on a clean base, run as the unprivileged `node` user ---------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  # Containers are reached from other hosts; the services default to 127.0.0.1 for local runs.
  HOST=0.0.0.0 \
  LOG_LEVEL=info
WORKDIR /app
# Owned by root and read-only to the process: a compromised service cannot rewrite its own code.
COPY --from=install /app /app
USER node
# The default process is user-api; every other one sets its working directory and command.
WORKDIR /app/services/user-api
EXPOSE 3001 3002 3003 3004
CMD ["node", "--conditions=compiled", "dist/server.js"]
