import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Container } from 'inversify';
import type { Logger } from 'pino';
import { ApiKeyCommands } from '../command-api/api-keys/api-key-commands.ts';
import type { PasswordHasher } from '../command-api/auth/ports.ts';
import { BackgroundWork } from '../command-api/background.ts';
import { ApiUsageMeter } from '../command-api/usage/api-usage-meter.ts';
import type { Principal } from '../domain/access/principal.ts';
import { CommandHandler } from '../command-api/command-handling.ts';
import { ContactCommands } from '../command-api/contacts/contact-commands.ts';
import { ValueClaims } from '../command-api/uniqueness/value-claims.ts';
import { membershipOf } from '../command-api/users/membership.ts';
import { ExecutionStarter } from '../command-api/workflows/execution-starter.ts';
import { commandApiModule } from '../command-api/module.ts';
import { OrganizationStatusCache } from '../command-api/organizations/organization-status.ts';
import { OrganizationCommands } from '../command-api/organizations/organization-commands.ts';
import type { AdminConsole } from '../admin/console/admin-console.ts';
import { ProjectorHost } from '../projectors/projector-host.ts';
import { projections } from '../projectors/read-models.ts';
import { queryApiModule } from '../query-api/module.ts';
import { readYourWrites } from '../query-api/read-your-writes.ts';
import { ApiKeyVerifier } from './auth/api-key-verifier.ts';
import { DataProtection } from './auth/data-protection.ts';
import { JwtTokens } from './auth/jwt-tokens.ts';
import { TokenOrApiKeyAuthenticator } from './auth/principal-authenticator.ts';
import { TotpAuthenticator } from './auth/totp.ts';
import { ScryptPasswordHasher } from './auth/scrypt-password-hasher.ts';
import { SessionRevocations } from './auth/session-revocations.ts';
import { defaultLoginLockoutPolicy, LoginLockout } from './auth/login-lockout.ts';
import { loadConfig, type Config, type Role } from './config/config.ts';
import { TOKENS } from './di/tokens.ts';
import { createApp } from './http/app.ts';
import type { HealthCheck } from './http/health.ts';
import type { AnyRoute } from './http/routes.ts';
import { listen, type HttpServer } from './http/server.ts';
import { createLogger } from './logging.ts';
import { ThrottledMailer } from './mail/mail-throttle.ts';
import { OutboxMailer } from './mail/outbox-mailer.ts';
import { SlidingWindowRateLimiter } from './ratelimit/sliding-window-rate-limiter.ts';
import { MailboxThrottle } from './workflows/mailbox-throttle.ts';
import { guardedHttpPort, mailerEmailPort, offlineComposer, offlineCrm } from './workflows/step-ports.ts';
import { AddressPolicy } from './outbound/address-policy.ts';
import { GuardedHttpClient } from './outbound/guarded-http.ts';
import { ExecutionQueue } from '../projectors/workflows/runner/execution-queue.ts';
import { contactEventReactor, workflowLifecycleReactor } from '../projectors/workflows/reactors.ts';
import { ScheduleFirer } from '../projectors/workflows/scheduler/schedule-firer.ts';
import { Scheduler } from '../projectors/workflows/scheduler/scheduler.ts';
import { workflowEventsPublisher } from '../projectors/integration-events/workflow-events-publisher.ts';
import type { IntegrationEventBus } from '../projectors/integration-events/integration-event-bus.ts';
import { InProcessEventBus } from './messaging/in-process-event-bus.ts';
import { RabbitMqEventBus } from './messaging/rabbitmq-event-bus.ts';
import { WorkflowRunner } from '../projectors/workflows/runner/workflow-runner.ts';
import { GenerationalProjector } from '../projectors/rebuild/generational-projector.ts';
import { rebuildableReadModels } from '../projectors/rebuild/read-models.ts';
import { generationalProgress } from './readmodels/generations.ts';
import { CHANNEL_CHECKPOINTS } from './notifications/notifications.ts';
import { startPlatform, type Platform } from './platform.ts';
import { CheckpointWatcher } from './readmodels/checkpoint-watcher.ts';

/** How long a verified API key is trusted before its stream is read again (revocation marks cover it). */
const API_KEY_CACHE_MS = 30_000;

function outboxDirectory(config: Config): string {
  if (config.MAIL_OUTBOX_DIR) return config.MAIL_OUTBOX_DIR;
  if (config.NEXUSFLOW_DATA_DIR.startsWith('memory://')) return path.join(os.tmpdir(), 'nexusflow-outbox');
  return path.join(config.NEXUSFLOW_DATA_DIR, 'outbox');
}

export interface ProcessParts {
  /** Serve command routes (writes). */
  commands: boolean;
  /** Serve query routes (reads). */
  queries: boolean;
  /** Run the projections. */
  projectors: boolean;
  /** Serve the staff console at /admin. */
  admin?: boolean;
}

/** Where a test may wrap an adapter the composition root builds (to observe it, not to replace it). */
export interface ProcessSeams {
  /** E.g. a wrapper counting password hash checks around the real hasher. */
  wrapPasswordHasher?: (hasher: PasswordHasher) => PasswordHasher;
}

export interface StartedProcess {
  config: Config;
  logger: Logger;
  container: Container;
  platform: Platform;
  server: HttpServer;
  stop(): Promise<void>;
}

/**
 * Builds and starts one process from its parts. Each entry point (main.ts for all-in-one, and each role's
 * main.ts) is a composition root that calls this with its own choice of parts; adapters are chosen here and
 * in the platform, nowhere else.
 */
export async function startProcess(
  role: Role,
  parts: ProcessParts,
  env: NodeJS.ProcessEnv = process.env,
  seams: ProcessSeams = {},
): Promise<StartedProcess> {
  const config = loadConfig(env, role);
  const logger = createLogger({ level: config.LOG_LEVEL, service: role === 'all' ? 'nexusflow' : role });
  const platform = await startPlatform(config, logger);

  const container = new Container({ defaultScope: 'Singleton' });
  container.bind(TOKENS.Config).toConstantValue(config);
  container.bind(TOKENS.Logger).toConstantValue(logger);
  container.bind(TOKENS.Platform).toConstantValue(platform);
  container.bind(TOKENS.EventStreams).toConstantValue(platform.eventStore);
  container.bind(TOKENS.GlobalEventLog).toConstantValue(platform.eventStore);
  container.bind(TOKENS.Orm).toConstantValue(platform.orm);
  container.bind(TOKENS.Notifications).toConstantValue(platform.notifications);
  container.bind(TOKENS.SearchReader).toConstantValue(platform.search);
  container.bind(TOKENS.AnalyticsReader).toConstantValue(platform.analytics);
  const commandHandler = new CommandHandler(platform.eventStore);
  container.bind(TOKENS.CommandHandler).toConstantValue(commandHandler);
  // Shared by the command API and the workflow runner and reactors.
  const valueClaims = new ValueClaims(platform.eventStore, commandHandler);
  container.bind(TOKENS.ValueClaims).toConstantValue(valueClaims);
  container.bind(TOKENS.ContactCommands).toConstantValue(new ContactCommands(commandHandler, valueClaims, logger.child({ component: 'contacts' })));
  container.bind(TOKENS.ExecutionStarter).toConstantValue(new ExecutionStarter(commandHandler, valueClaims));
  // Configuration makes every process on a server set JWT_SECRET; on the embedded default there is always one.
  const jwtSecret = platform.jwtSecret;
  if (!jwtSecret) throw new Error('no token signing secret: set JWT_SECRET');
  const tokens = new JwtTokens(jwtSecret, config.ACCESS_TOKEN_TTL_SECONDS, config.REFRESH_TOKEN_TTL_SECONDS);
  container.bind(TOKENS.Tokens).toConstantValue(tokens);
  const revocations = new SessionRevocations(platform.ephemeral, config.ACCESS_TOKEN_TTL_SECONDS * 1000, API_KEY_CACHE_MS);
  container.bind(TOKENS.SessionRevocations).toConstantValue(revocations);
  container.bind(TOKENS.LoginAttempts).toConstantValue(
    new LoginLockout(platform.ephemeral, {
      ...defaultLoginLockoutPolicy,
      maxFailures: config.LOGIN_MAX_FAILURES,
      baseLockMs: config.LOGIN_LOCK_SECONDS * 1000,
    }),
  );
  container.bind(TOKENS.SecretBox).toConstantValue(new DataProtection(config.DATA_ENCRYPTION_KEY ?? jwtSecret));
  container.bind(TOKENS.OneTimePasswords).toConstantValue(new TotpAuthenticator('NexusFlow'));
  const mailer = new OutboxMailer(outboxDirectory(config), logger.child({ component: 'mail' }));
  container.bind(TOKENS.Mailer).toConstantValue(mailer);
  container
    .bind(TOKENS.AccountMailer)
    .toConstantValue(new ThrottledMailer(mailer, platform.ephemeral, config.MAIL_MAX_PER_ADDRESS_PER_HOUR, logger.child({ component: 'mail' })));
  const background = new BackgroundWork(logger.child({ component: 'background' }));
  container.bind(TOKENS.BackgroundWork).toConstantValue(background);
  // API keys work in every process (queries too), and record their use as events.
  const apiKeyCommands = new ApiKeyCommands(commandHandler, revocations, (keyId) => apiKeyVerifier.forget(keyId));
  container.bind(TOKENS.ApiKeyCommands).toConstantValue(apiKeyCommands);
  const apiKeyVerifier: ApiKeyVerifier = new ApiKeyVerifier(
    platform.eventStore,
    revocations,
    platform.ephemeral,
    // A key acts with at most its creator's current role, while the creator is an active member.
    (organizationId, userId) => membershipOf(commandHandler, organizationId, userId),
    (key, request) =>
      apiKeyCommands.recordUse(key, {
        tenantId: key.organizationId,
        actor: { type: 'apiKey', id: key.keyId },
        correlationId: randomUUID(),
        causationId: randomUUID(),
        now: new Date(),
        ip: request.ip,
      }),
    logger.child({ component: 'api-keys' }),
    { cacheMs: API_KEY_CACHE_MS, usageResolutionMs: config.API_KEY_USAGE_RESOLUTION_SECONDS * 1000 },
  );
  container.bind(TOKENS.Authenticator).toConstantValue(new TokenOrApiKeyAuthenticator(tokens, revocations, apiKeyVerifier));
  container.bind(TOKENS.RateLimiter).toConstantValue(new SlidingWindowRateLimiter(platform.ephemeral));
  const passwordHasher = new ScryptPasswordHasher(config.PASSWORD_HASH_COST);
  container.bind(TOKENS.PasswordHasher).toConstantValue(seams.wrapPasswordHasher?.(passwordHasher) ?? passwordHasher);
  container
    .bind(TOKENS.CheckpointWatcher)
    .toDynamicValue(() => new CheckpointWatcher(platform.orm, platform.eventStore, platform.notifications, logger));
  container
    .bind(TOKENS.ProjectorHost)
    .toDynamicValue(
      (ctx) =>
        new ProjectorHost(projections, platform.eventStore, platform.orm, logger, {
          batchSize: config.PROJECTION_BATCH_SIZE,
          liveDelayMs: config.PROJECTION_LIVE_DELAY_MS,
          onCheckpoint: (projection, position, stored) => {
            ctx.container.get<CheckpointWatcher>(TOKENS.CheckpointWatcher).announce(projection, position);
            if (projection === 'executions' && parts.projectors) ctx.container.get<WorkflowRunner>(TOKENS.WorkflowRunner).wake();
            if (!stored && !platform.embedded) {
              // A skip is not in the table yet: other processes (a separate query API) hear of it here.
              platform.notifications
                .notify(CHANNEL_CHECKPOINTS, JSON.stringify({ projection, position }))
                .catch((err: unknown) => logger.debug({ err }, 'checkpoint notification failed; waiters poll'));
            }
          },
        }),
    );
  container
    .bind(TOKENS.WorkflowRunner)
    .toDynamicValue(
      (ctx) =>
        new WorkflowRunner(
          new ExecutionQueue(platform.pool),
          commandHandler,
          ctx.container.get(TOKENS.ContactCommands),
          {
            email: mailerEmailPort(ctx.container.get(TOKENS.Mailer)),
            // Tenant-chosen URLs: only public addresses, plus what the operator's OUTBOUND_ALLOW_CIDRS opens.
            http: guardedHttpPort(new GuardedHttpClient({ policy: new AddressPolicy(config.OUTBOUND_ALLOW_CIDRS) })),
            ai: offlineComposer,
            crm: offlineCrm,
          },
          new MailboxThrottle(platform.ephemeral, { perMinute: config.MAILBOX_MAX_PER_MINUTE, perDay: config.MAILBOX_MAX_PER_DAY }),
          logger.child({ component: 'workflow-runner' }),
          {
            concurrency: config.WORKFLOW_RUNNER_CONCURRENCY,
            leaseMs: config.WORKFLOW_LEASE_MS,
            pollMs: config.WORKFLOW_POLL_MS,
            maxStepsPerClaim: 50,
            maxStepsPerExecution: config.WORKFLOW_MAX_STEPS_PER_EXECUTION,
          },
        ),
    );
  // Organization commands and their suspension cache serve the command API and the staff console alike.
  container
    .bind(TOKENS.OrganizationStatus)
    .toDynamicValue(() => new OrganizationStatusCache(commandHandler, platform.notifications, logger.child({ component: 'organization-status' }), config.ORGANIZATION_STATUS_CACHE_MS));
  container
    .bind(TOKENS.OrganizationCommands)
    .toDynamicValue((ctx) => new OrganizationCommands(commandHandler, ctx.container.get(TOKENS.OrganizationStatus)));
  if (parts.commands) container.load(commandApiModule);
  if (parts.queries) container.load(queryApiModule);

  const routes: AnyRoute[] = [
    ...(parts.commands ? container.get<AnyRoute[]>(TOKENS.CommandRoutes) : []),
    ...(parts.queries ? container.get<AnyRoute[]>(TOKENS.QueryRoutes) : []),
  ];
  const healthChecks: HealthCheck[] = [...platform.healthChecks];
  let projectorHost: ProjectorHost | null = null;
  let reactorHost: ProjectorHost | null = null;
  const generational: GenerationalProjector[] = [];
  let bus: IntegrationEventBus | null = null;
  let runner: WorkflowRunner | null = null;
  let scheduler: Scheduler | null = null;
  let unlistenRunner: (() => void) | null = null;
  if (parts.projectors) {
    projectorHost = container.get<ProjectorHost>(TOKENS.ProjectorHost);
    healthChecks.push(projectorHost.healthCheck());
    // Reactors and the integration-event publisher have side effects and wait on the read models: they run
    // apart from the projections (their own page reader), so a reactor waiting never holds a projection back.
    bus = config.RABBITMQ_URL
      ? RabbitMqEventBus.create(config.RABBITMQ_URL, logger.child({ component: 'rabbitmq' }), config.RABBITMQ_EXCHANGE)
      : new InProcessEventBus();
    container.bind(TOKENS.IntegrationEventBus).toConstantValue(bus);
    const starter = container.get<ExecutionStarter>(TOKENS.ExecutionStarter);
    const firer = new ScheduleFirer(platform.orm, starter, logger.child({ component: 'scheduler' }));
    const reactorDeps = {
      handler: commandHandler,
      starter,
      progress: container.get<CheckpointWatcher>(TOKENS.CheckpointWatcher),
      firer,
      logger: logger.child({ component: 'reactors' }),
    };
    scheduler = new Scheduler(platform.pool, commandHandler, firer, logger.child({ component: 'scheduler' }), {
      pollMs: config.WORKFLOW_POLL_MS * 5,
      leaseMs: 5 * 60_000,
    });
    const schedulerStats = scheduler.stats;
    healthChecks.push({ name: 'scheduler', check: async () => ({ ok: true, detail: schedulerStats }) });
    reactorHost = new ProjectorHost(
      [
        workflowEventsPublisher(bus),
        contactEventReactor(reactorDeps),
        workflowLifecycleReactor(reactorDeps),
      ],
      platform.eventStore,
      platform.orm,
      logger,
      {
        batchSize: config.PROJECTION_BATCH_SIZE,
        liveDelayMs: config.PROJECTION_LIVE_DELAY_MS,
        // The search index serves read-your-writes (X-Min-Position) like the other read models.
        onCheckpoint: (projection, position) => reactorDeps.progress.announce(projection, position),
      },
    );
    healthChecks.push({ ...reactorHost.healthCheck(), name: 'reactors' });
    // Search and analytics live in other stores and can be rebuilt into a new generation (npx nexusflow
    // projections rebuild): each runs apart, like a reactor, and follows the generation switches.
    for (const model of rebuildableReadModels({ search: platform.search, analytics: platform.analytics, progress: reactorDeps.progress })) {
      const projector = new GenerationalProjector(
        model,
        platform.generations,
        (projection) =>
          new ProjectorHost([projection], platform.eventStore, platform.orm, logger, {
            batchSize: config.PROJECTION_BATCH_SIZE,
            liveDelayMs: config.PROJECTION_LIVE_DELAY_MS,
            // These read models serve read-your-writes (X-Min-Position) like the others.
            onCheckpoint: (name, position) => reactorDeps.progress.announce(name, position),
          }),
        logger.child({ component: 'generations' }),
      );
      generational.push(projector);
      healthChecks.push(projector.healthCheck());
    }
    runner = container.get<WorkflowRunner>(TOKENS.WorkflowRunner);
    const wake = runner;
    // Another process's projector may move the queue: its checkpoint announcements wake this runner too.
    unlistenRunner = platform.notifications.listen(CHANNEL_CHECKPOINTS, (payload) => {
      if (!payload || payload.includes('"executions"')) wake.wake();
    });
    healthChecks.push({ name: 'workflowRunner', check: async () => ({ ok: true, detail: wake.stats }) });
  }
  const watcher = parts.queries || parts.projectors ? container.get<CheckpointWatcher>(TOKENS.CheckpointWatcher) : null;
  const organizationStatus = parts.commands || parts.admin ? container.get<OrganizationStatusCache>(TOKENS.OrganizationStatus) : null;
  const windowMs = config.RATE_LIMIT_WINDOW_SECONDS * 1000;

  // Every process that serves the API counts its authenticated requests (usage metrics).
  const apiUsage = routes.length > 0 ? new ApiUsageMeter(platform.eventStore, logger.child({ component: 'api-usage' }), config.API_USAGE_FLUSH_SECONDS * 1000) : null;

  let stopping = false;
  const app = createApp({
    service: role === 'all' ? 'nexusflow' : role,
    logger,
    routes,
    health: { checks: healthChecks, isStopping: () => stopping, operatorToken: config.OPERATOR_TOKEN ?? null },
    authenticator: container.get(TOKENS.Authenticator),
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    rateLimits: {
      limiter: container.get(TOKENS.RateLimiter),
      perIp: { limit: config.RATE_LIMIT_PER_IP, windowMs },
      perTenant: { limit: config.RATE_LIMIT_PER_TENANT, windowMs },
    },
    idempotencyStore: platform.ephemeral,
    idempotency: { retentionMs: config.IDEMPOTENCY_TTL_SECONDS * 1000, lockMs: 60_000 },
    corsOrigins: config.CORS_ORIGINS,
    ...(organizationStatus && parts.commands ? { suspensions: organizationStatus } : {}),
    trustProxy: config.TRUST_PROXY,
    ...(apiUsage ? { onAuthenticated: (principal: Principal) => apiUsage.count(principal.organizationId) } : {}),
    ...(watcher && parts.queries
      ? { beforeHandler: readYourWrites(generationalProgress(watcher, platform.generations), config.READ_YOUR_WRITES_TIMEOUT_MS) }
      : {}),
  });

  let server: HttpServer;
  let adminConsole: AdminConsole | null = null;
  try {
    if (parts.admin) {
      // Loaded only here: AdminJS costs a second and about 100 MB to import.
      const { startAdminConsole } = await import('../admin/console/start-console.ts');
      adminConsole = await startAdminConsole({
        config,
        logger,
        platform,
        handler: commandHandler,
        organizations: container.get(TOKENS.OrganizationCommands),
        tokens,
        progress: container.get<CheckpointWatcher>(TOKENS.CheckpointWatcher),
      });
    }
    await projectorHost?.start();
    await reactorHost?.start();
    for (const projector of generational) await projector.start();
    runner?.start();
    scheduler?.start();
    apiUsage?.start();
    server = await listen(app, { host: config.HOST, port: config.PORT, logger, mounts: adminConsole ? [{ prefix: '/admin', app: adminConsole.app }] : [] });
  } catch (err) {
    await adminConsole?.close();
    unlistenRunner?.();
    await scheduler?.stop();
    await runner?.stop();
    for (const projector of generational) await projector.stop();
    await reactorHost?.stop();
    await projectorHost?.stop();
    await bus?.close();
    await platform.close();
    throw err;
  }

  return {
    config,
    logger,
    container,
    platform,
    server,
    async stop() {
      stopping = true;
      await server.close();
      await adminConsole?.close();
      await background.drain();
      await apiUsage?.stop();
      unlistenRunner?.();
      await scheduler?.stop();
      await runner?.stop();
      for (const projector of generational) await projector.stop();
      await reactorHost?.stop();
      await projectorHost?.stop();
      await bus?.close();
      watcher?.close();
      organizationStatus?.close();
      await platform.close();
    },
  };
}
