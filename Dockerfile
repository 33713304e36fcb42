# syntax=docker/dockerfile:1
# Edgeplane: one image for every `cdn` command (api, edge, migrate, start).
#   docker build -t edgeplane .
#   docker run --rm edgeplane --help
# docker-compose.yaml runs it as api, edge-a, edge-b, the one-shot migrate, the demo origins
# and the seed. test/unit/compose.config.test.ts checks the paths and stages named here.

# --- build: all dependencies, compile TypeScript to dist/ ---------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No lifecycle scripts yet: `prepare` would compile before the sources are here. The prebuilt
# native binaries (lmdb, msgpackr-extract, @swc/core) come as optional packages and need none.
# The `node` devDependency (the project's own Node.js 24, for machines with an older one) is
# left uninstalled by --ignore-scripts: this image is Node.js 24 already.
RUN npm install --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npx tsc -p tsconfig.build.json

# --- runtime: production dependencies and the compiled build only --------------------------
FROM node:24-bookworm-slim AS runtime
# Introspection and the IDE follow CDN_API_INTROSPECTION / CDN_API_IDE, not NODE_ENV.
ENV NODE_ENV=production CDN_DATA_DIR=/var/lib/edgeplane
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
# The data directory (edge cache and last-known-good snapshot) belongs to the unprivileged
# `node` user; a named volume mounted there starts with this owner.
RUN mkdir -p /var/lib/edgeplane && chown node:node /var/lib/edgeplane
USER node
EXPOSE 4000 8080 8081
ENTRYPOINT ["node", "/app/bin/cdn.js"]
CMD ["--help"]
