# syntax=docker/dockerfile:1
#
# keda-llm-scaler container image.
#
#   docker build -t keda-llm-scaler:dev .
#   docker run --rm -p 9090:9090 -p 8080:8080 --read-only \
#     -v "$PWD/scaler.yaml:/etc/keda-llm-scaler/config.yaml:ro" keda-llm-scaler:dev
#
# Three stages: `build` compiles TypeScript with the dev dependencies; `deps` installs the
# production dependencies only; the runtime stage is distroless (no shell, no package manager),
# runs as the non-root user 65532, writes nothing to its filesystem (works with
# readOnlyRootFilesystem) and starts node directly as PID 1, which handles SIGTERM itself
# (streams end with OK, in-flight calls finish). test/runtime-layout.test.ts rebuilds this layout
# without Docker and runs it.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.ui.json ./
COPY proto ./proto
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing at runtime needs an install script (msgpackr's native extract is an
# optional speed-up shipped as prebuilt platform packages).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="keda-llm-scaler" \
      org.opencontainers.image.description="KEDA external scaler for LLM inference workers (vLLM, SGLang, TensorRT-LLM, NVIDIA Dynamo)" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# Owned by root and read-only for the runtime user: the process cannot change its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY proto ./proto
COPY package.json ./
USER 65532:65532
# 9090: gRPC for KEDA (externalscaler + grpc.health.v1 + reflection); 8080: /healthz /readyz /metrics /api/v1 and the status page at /
EXPOSE 9090 8080
# Exec form, no shell: node is PID 1 and receives SIGTERM directly.
ENTRYPOINT ["/nodejs/bin/node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/keda-llm-scaler/config.yaml"]
