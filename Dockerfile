# syntax=docker/dockerfile:1
# pg-restore-drill: the drill (Node) and the PostgreSQL tools it drives, in one image. The same image is
# the CronJob's drill container and its scratch PostgreSQL sidecar (k8s/base/cronjob.yaml).
#
#   docker build -t pg-restore-drill:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp pg-restore-drill:0.1.0   # self-contained drill: PASSED, exit 0
# (docs/deploy.md: pushing it, and the cluster.)
#
# Base images are build arguments, fully qualified (no short-name resolution, same meaning for docker and
# podman) and pinned; bump both patch levels together, keeping the PostgreSQL major of production:
#   NODE_IMAGE      Node 24 LTS on Debian bookworm (slim): only its node binary and npm are used
#   POSTGRES_IMAGE  the official PostgreSQL image of production's major, on the same Debian suite
# Where no registry is reachable, scripts/build-image.sh builds local stand-ins under these names.
ARG NODE_IMAGE=docker.io/library/node:24.11.1-bookworm-slim
ARG POSTGRES_IMAGE=docker.io/library/postgres:18.1-bookworm

FROM ${NODE_IMAGE} AS node

# Two optional build secrets, for builds behind a registry mirror or a TLS-inspecting proxy; neither
# lands in a layer:  --secret id=npmrc,src=$HOME/.npmrc  --secret id=ca_certs,src=/path/to/ca-bundle.pem
# No install scripts run in either npm ci: the ones in the tree only build optional native speed-ups
# (ssh2, cpu-features) or check a binary that ships as an optional package (esbuild), and nothing here
# should run code from the registry at build time (our own `prepare`, the build, runs as its own step).

# Build stage: every dependency (TypeScript and esbuild among them), then tsc compiles lib/ and drills/
# to dist/ and esbuild joins what the CLI runs into dist/bundle/ (scripts/bundle.mjs).
# Nothing of this stage but dist/ reaches the image.
FROM node AS build
# Marks this build's intermediate images, so scripts/build-image.sh can prune the dangling ones.
LABEL pg-restore-drill.build=true
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc --mount=type=secret,id=ca_certs \
    if [ -s /run/secrets/npmrc ]; then export NPM_CONFIG_USERCONFIG=/run/secrets/npmrc; fi; \
    if [ -s /run/secrets/ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_certs; fi; \
    npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=warn \
 && rm -rf /root/.npm
COPY tsconfig.json tsconfig.build.json ./
COPY lib ./lib
COPY drills ./drills
COPY scripts/bundle.mjs ./scripts/
RUN npm run build --silent

# Production dependencies exactly as locked: no TypeScript, no dev dependency at all. npm keeps tsx and
# esbuild under --omit=dev because vite names both as optional peers (a dev-and-optional package goes
# only with --omit=optional too, which would also drop rolldown's native binding, which vite needs);
# the drill loads neither (compiled JavaScript, no config file), so they are removed, and the build
# fails if a dev-only compiler is still there.
FROM node AS deps
LABEL pg-restore-drill.build=true
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc --mount=type=secret,id=ca_certs \
    if [ -s /run/secrets/npmrc ]; then export NPM_CONFIG_USERCONFIG=/run/secrets/npmrc; fi; \
    if [ -s /run/secrets/ca_certs ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_certs; fi; \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=warn \
 && rm -rf /root/.npm node_modules/tsx node_modules/esbuild node_modules/@esbuild \
           node_modules/.bin/tsx node_modules/.bin/esbuild \
 && for p in tsx esbuild typescript; do [ ! -e "node_modules/$p" ] || { echo "node_modules/$p in the image" >&2; exit 1; }; done

# The final image is the official PostgreSQL image (its server, client tools, shared libraries and
# locales stay exactly as packaged) plus the node binary: one file, no npm, no package manager run.
FROM ${POSTGRES_IMAGE}
LABEL pg-restore-drill.build=true \
      org.opencontainers.image.title=pg-restore-drill \
      org.opencontainers.image.description="Restore drill for PostgreSQL logical backups, with the PostgreSQL tools it drives"
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# Fails the build if node cannot run on this base (glibc, libstdc++ of another suite).
RUN node --version >/dev/null \
 && groupadd --gid 10001 drill \
 && useradd --uid 10001 --gid drill --home-dir /tmp --no-create-home --shell /usr/sbin/nologin drill

WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
# The drill as it runs: compiled JavaScript only (no TypeScript source, no config file to bundle; the
# spec's vitest options are inline in lib/drill/run-specs.ts, joined into dist/bundle/).
COPY --from=build /app/dist ./dist
# Vite's cache directory is node_modules/.vite; the drill writes no results cache there (cache: false),
# but with a read-only root file system anything Vite might write must lead to writable space. /tmp
# always exists (a tmpfs or emptyDir in every way this image runs).
RUN ln -s /tmp node_modules/.vite \
 && chmod -R a+rX,go-w /app

# Everything the drill writes goes to /tmp: throwaway clusters, self-made backups, the report (there is
# no npm in this image, hence no npm cache). The drill finds the PostgreSQL binaries itself (initdb on
# PATH, which the base image sets to /usr/lib/postgresql/<major>/bin), so no major is named here.
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (the vitest worker, libuv's threadpool
# where zlib inflates, V8's helpers) an arena of its own, and freed memory in one serves no other; two
# arenas take 4-7 MiB off the drill's peak RSS (docs/benchmarks.md, "Memory"). Read by glibc as node
# starts, so it can only come from the environment.
# DRILL_INITDB_CACHE=off: a container's file system dies with it, so the local target's initdb template
# cache (lib/targets/initdb-cache.ts) would cost a copy to fill and never be read; a volume mounted for
# it can turn it back on (DRILL_INITDB_CACHE=/the/volume).
ENV NODE_ENV=production \
    HOME=/tmp \
    MALLOC_ARENA_MAX=2 \
    DRILL_INITDB_CACHE=off \
    DRILL_TEMP_DIR=/tmp \
    DRILL_REPORT_DIR=/tmp/drill-report

# Numeric, so runAsNonRoot can verify it; the user exists in /etc/passwd because initdb and postgres
# look their user up and refuse to run without one.
USER 10001:10001
# The PostgreSQL base stops with SIGINT; the drill (PID 1) handles SIGTERM and SIGINT alike: it stops
# psql, stops its throwaway server, writes the report and exits 143/130. Node as PID 1 is enough here:
# the drill reaps the tools it starts, and its server's guardian shell reaps the server.
STOPSIGNAL SIGTERM
# --max-semi-space-size=1 on the command line holds both threads' young generation to 1 MB
# (bin/pg-restore-drill.mjs alone can only set it for the worker thread; docs/benchmarks.md).
ENTRYPOINT ["node", "--max-semi-space-size=1", "bin/pg-restore-drill.mjs"]
CMD []
