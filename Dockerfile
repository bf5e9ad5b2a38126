# syntax=docker/dockerfile:1
#
# supabase-user-sync: multi-stage image. The build stage installs every dependency and compiles
# TypeScript to dist/; the runtime stage gets only production dependencies and the compiled code,
# and runs as the unprivileged `node` user.
#
# No Docker engine runs in CI, so .ci/docker-steps parses this file and replays the build stage's
# COPY/RUN lines (and the runtime stage's COPY/ENV/CMD/HEALTHCHECK) outside Docker. Keep the build
# stage to plain `COPY <src>... <dest>` and shell-form `RUN` lines so that parser can follow it.

# Same major as the `node` devDependency pinned in package.json (24.x), which tests and CI use.
FROM node:24-slim AS build
WORKDIR /app

# Manifests first: this layer (and the slow `npm ci`) is reused while only the sources change.
COPY package.json package-lock.json ./
# Full install including devDependencies (typescript). NODE_ENV is deliberately not "production"
# here, or npm would skip them. Install scripts stay on: esbuild (tsx) needs its postinstall.
RUN npm ci --no-audit --no-fund

# Each directory gets its own COPY: `COPY a b ./` would copy the *contents* of a and b into ./.
COPY tsconfig*.json ./
COPY src ./src
COPY routes ./routes
COPY scripts ./scripts
# tsc -p tsconfig.build.json: rootDir is the repo root, so output lands in dist/src, dist/routes,
# dist/scripts; `rewriteRelativeImportExtensions` turns the .ts import specifiers into .js, and
# the JSON import of package.json in src/app.ts is emitted as dist/package.json.
RUN npm run build
# Drop devDependencies (typescript, eslint, vitest, the `node` binary package...) so the runtime
# stage can copy node_modules as is. tsx stays: it is a production dependency.
RUN npm prune --omit=dev --no-audit --no-fund


FROM node:24-slim AS runtime
# production: libraries (fastify, pino) take their lean paths. HOST=0.0.0.0 because the app's
# default 127.0.0.1 is unreachable from outside the container; so the service needs SERVICE_TOKENS
# even in embedded mode (it makes its own admin token only on a loopback address, since it would
# print it into the container's log). PORT is the app's default, stated so EXPOSE and HEALTHCHECK
# below visibly agree with it.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app

# Root-owned and so read-only for the `node` user that runs the process: the code cannot be
# modified at run time.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# dist/src/app.js imports ../package.json (= dist/package.json, emitted by tsc); /app/package.json
# also supplies "type": "module" for anything resolved from /app and documents the version.
COPY --from=build /app/package.json ./package.json

# Embedded mode (no DATABASE_URL, no Supabase key) keeps its PGlite data in EMBEDDED_DATA_DIR,
# default ".data" relative to the working directory: /app/.data. /app itself belongs to root, so
# create the directory and hand it to `node`. Mount a volume here to keep embedded data.
RUN mkdir -p /app/.data && chown node:node /app/.data
# The `node` user (uid 1000) ships with the official image; never run the service as root.
USER node

EXPOSE 3000

# node:*-slim has no curl or wget; Node 24's global fetch does the probe. It reads PORT at check
# time so a `-e PORT=...` override is followed; /health never touches the database, so a slow
# database does not get the container restarted (readiness is /ready, for the orchestrator).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Exec form: node is PID 1 and receives SIGTERM directly, so close-with-grace in server.ts can
# finish in-flight requests. Compiled JS, not tsx: no TypeScript transpilation at start-up.
CMD ["node", "dist/src/server.js"]
