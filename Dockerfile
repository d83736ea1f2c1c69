# The Lifeboat worker image (orchestrator in docker-compose.yml). No build step: the CLI runs
# the TypeScript sources through tsx, as on a laptop.
FROM node:20.19-bookworm-slim

ENV NODE_ENV=production
WORKDIR /opt/lifeboat
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error
COPY . .

USER node
# Lifeboat's /metrics (with the SDK's metrics appended) and the SDK's own Prometheus endpoint.
EXPOSE 9464 9465
# `lifeboat worker` stops gracefully on SIGTERM (docker stop): in-flight activities finish first.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/lifeboat.mjs"]
CMD ["worker", "orchestrator"]
