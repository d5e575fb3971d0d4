# syntax=docker/dockerfile:1
# palyra-skills-operator: a small Node 24 image running as non-root with production
# dependencies only. TypeScript runs as is (Node 24 strips types); the build steps are the
# inflate addon in native/ (Rust) and the CLI bundle in dist/cli/ (esbuild: the init container
# runs `node /app/bin/palyra-skill.mjs install`, which starts faster from it).
# The entry point is bin/palyra-skills-operator.mjs, the same file the integration tests start.

FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, without install scripts: sodium-native ships prebuilt
# binaries, and the `node` package (the project's own Node for development) is not needed on
# an image that is Node 24 already.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/node node_modules/.bin/node \
 && npm cache clean --force

# The inflate addon (native/, zlib-rs behind Node-API), from the crates pinned in Cargo.lock.
FROM rust:1.95-bookworm AS native
WORKDIR /src
COPY native ./native
RUN cargo build --release --locked --manifest-path native/Cargo.toml \
 && cp native/target/release/libpalyra_native.so /palyra-native.node

# The CLI bundle (scripts/build-cli.ts), built with the dev dependencies (esbuild) that the
# image leaves out. bin/palyra-skill.mjs runs it only while the sources it was built from are
# the ones beside it, as they are here.
FROM node:24-bookworm-slim AS cli
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY bin ./bin
COPY scripts/build-cli.ts ./scripts/build-cli.ts
COPY src ./src
RUN node scripts/build-cli.ts

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY --from=cli /app/dist/cli ./dist/cli
COPY crds ./crds
COPY --from=native /palyra-native.node ./native/palyra-native.node
# Numeric, so runAsNonRoot can verify it without a passwd entry (matches the chart).
USER 65532:65532
EXPOSE 8080 9443
ENTRYPOINT ["node", "bin/palyra-skills-operator.mjs"]
