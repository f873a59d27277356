# One image for both roles: the webhook (`splice serve`, the Deployment) and the
# splice-init container (`splice iptables --apply …`, run as root by its securityContext).

FROM node:20-bookworm-slim AS build
WORKDIR /opt/splice
COPY package.json package-lock.json tsconfig.json ./
COPY bin/ bin/
COPY src/ src/
# npm ci runs the package's prepare script, which compiles src/ to dist/ with tsc (a dev
# dependency); the dev dependencies are dropped once it has run.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
# splice-init installs the redirect rules with iptables-restore / ip6tables-restore.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /opt/splice
COPY --from=build /opt/splice/package.json ./
COPY --from=build /opt/splice/node_modules/ node_modules/
COPY --from=build /opt/splice/dist/ dist/
COPY --from=build /opt/splice/bin/ bin/
RUN ln -s /opt/splice/bin/splice.js /usr/local/bin/splice
# Numeric, so the kubelet can check runAsNonRoot without a passwd entry.
USER 65532:65532
ENTRYPOINT ["splice"]
