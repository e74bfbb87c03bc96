# One image for every NexusFlow role. The default command runs all roles in one process (`npm start`,
# embedded database unless DATABASE_URL is set); run one role with e.g. `npm run start:command-api`
# (each role alone needs DATABASE_URL and JWT_SECRET). No build step: tsx runs the TypeScript sources.
FROM node:20-bookworm-slim

# NPM_CONFIG_SCRIPT_SHELL: npm runs a script as `<shell> -c "tsx main.ts"`. Debian's /bin/sh (dash) keeps
# itself in between and does not pass on the SIGTERM that npm forwards, so the app would be orphaned and
# killed without its graceful shutdown; bash execs the single command, so the signal reaches tsx, which
# hands it to the app.
ENV NODE_ENV=production \
    PORT=3000 \
    NPM_CONFIG_SCRIPT_SHELL=/bin/bash \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

# Dependencies first, so the layer is reused while only sources change. tsx (needed at run time) is a
# production dependency, so the dev tools (typescript, mocha, chai, types) stay out of the image.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .

# Non-root at run time. The sources stay root-owned (read-only to the app); only the embedded database's
# default data directory (NEXUSFLOW_DATA_DIR=./.nexusflow) is writable. Mount a volume there to keep it.
RUN mkdir -p /app/.nexusflow/outbox && chown -R node:node /app/.nexusflow
USER node

EXPOSE 3000

# /health/live: the process answers. The slim image has no curl, so Node's fetch does the request.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# npm forwards SIGTERM/SIGINT to the app, which shuts down gracefully within SHUTDOWN_TIMEOUT_MS.
CMD ["npm", "start"]
