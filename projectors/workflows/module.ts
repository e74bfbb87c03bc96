import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule } from 'inversify';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CommandHandler } from '../../command-api/command-handling.ts';
import type { ContactCommands } from '../../command-api/contacts/contact-commands.ts';
import type { Mailer } from '../../command-api/ports.ts';
import type { ExecutionStarter } from '../../command-api/workflows/execution-starter.ts';
import type { Config } from '../../infra/config/config.ts';
import { HealthChecks, Lifecycle } from '../../infra/di/lifecycle.ts';
import { deps, optional } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';
import type { EventStore } from '../../infra/eventstore/event-store.ts';
import type { Metrics } from '../../infra/observability/metrics.ts';
import { AddressPolicy } from '../../infra/outbound/address-policy.ts';
import { GuardedHttpClient } from '../../infra/outbound/guarded-http.ts';
import type { Database } from '../../infra/postgres/module.ts';
import type { CheckpointWatcher } from '../../infra/readmodels/checkpoint-watcher.ts';
import { MailboxThrottle } from '../../infra/workflows/mailbox-throttle.ts';
import { guardedHttpPort, mailerEmailPort } from '../../infra/workflows/step-ports.ts';
import type { AiFeatures } from '../../command-api/ai/ai-features.ts';
import type { IntegrationConnections } from '../../infra/crm/integration-connections.ts';
import { crmStepPort } from '../integrations/sync/crm-step.ts';
import { SyncStore } from '../integrations/sync/sync-store.ts';
import { bindProjection, bindReactor } from '../module.ts';
import { executionsProjection } from './executions-projection.ts';
import { contactEventReactor, workflowLifecycleReactor, type ReactorDependencies } from './reactors.ts';
import { ExecutionQueue } from './runner/execution-queue.ts';
import type { WorkflowBacklog } from '../backlog.ts';
import { WorkflowRunner } from './runner/workflow-runner.ts';
import { ScheduleFirer } from './scheduler/schedule-firer.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import { schedulesProjection } from './schedules-projection.ts';
import { workflowsProjection } from './workflows-projection.ts';

/**
 * Workflows on the projector side: their read models (definitions, executions with the runner's queue,
 * schedules), the reactors that start executions on contact events and follow workflow lifecycles, the
 * runner that executes steps, and the scheduler that fires cron triggers.
 */
export const workflowProjectorsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => workflowsProjection);
  bindProjection(bind, () => executionsProjection);
  bindProjection(bind, () => schedulesProjection);

  bind<ScheduleFirer>(TOKENS.ScheduleFirer).toDynamicValue(async (ctx) => {
    const [orm, starter, logger] = await deps<[MikroORM, ExecutionStarter, Logger]>(ctx, TOKENS.Orm, TOKENS.ExecutionStarter, TOKENS.Logger);
    return new ScheduleFirer(orm, starter, logger.child({ component: 'scheduler' }));
  });
  const reactorDeps = async (ctx: Parameters<Parameters<typeof bindReactor>[1]>[0]): Promise<ReactorDependencies> => {
    const [handler, starter, progress, firer, logger] = await deps<[CommandHandler, ExecutionStarter, CheckpointWatcher, ScheduleFirer, Logger]>(
      ctx,
      TOKENS.CommandHandler,
      TOKENS.ExecutionStarter,
      TOKENS.CheckpointWatcher,
      TOKENS.ScheduleFirer,
      TOKENS.Logger,
    );
    return { handler, starter, progress, firer, logger: logger.child({ component: 'reactors' }) };
  };
  bindReactor(bind, async (ctx) => contactEventReactor(await reactorDeps(ctx)));
  bindReactor(bind, async (ctx) => workflowLifecycleReactor(await reactorDeps(ctx)));

  bind<WorkflowRunner>(TOKENS.WorkflowRunner).toDynamicValue(async (ctx) => {
    const [config, database, handler, contacts, mailer, ephemeral, watcher, logger, lifecycle, health, metrics, events, connections] = await deps<
      [
        Config,
        Database,
        CommandHandler,
        ContactCommands,
        Mailer,
        EphemeralStore,
        CheckpointWatcher,
        Logger,
        Lifecycle,
        HealthChecks,
        Metrics,
        EventStore,
        IntegrationConnections,
      ]
    >(
      ctx,
      TOKENS.Config,
      TOKENS.Database,
      TOKENS.CommandHandler,
      TOKENS.ContactCommands,
      TOKENS.Mailer,
      TOKENS.Ephemeral,
      TOKENS.CheckpointWatcher,
      TOKENS.Logger,
      TOKENS.Lifecycle,
      TOKENS.HealthChecks,
      TOKENS.Metrics,
      TOKENS.EventStore,
      TOKENS.IntegrationConnections,
    );
    const runner = new WorkflowRunner(
      // The owner names this runner's leases.
      new ExecutionQueue(database.pool, `runner-${randomUUID().slice(0, 8)}`),
      handler,
      contacts,
      {
        email: mailerEmailPort(mailer),
        // Tenant-chosen URLs: only public addresses, plus what the operator's OUTBOUND_ALLOW_CIDRS opens.
        http: guardedHttpPort(new GuardedHttpClient({ policy: new AddressPolicy(config.OUTBOUND_ALLOW_CIDRS) }), metrics),
        // Through the AI service: the organization's switch, limits and allowance; its usage recorded.
        // Loaded when the runner is made: the command line, which lists this module's projections, needs none of it.
        ai: (await import('../../command-api/ai/step-port.ts')).aiStepPort((await deps<[AiFeatures]>(ctx, TOKENS.AiFeatures))[0]),
        // Through the organization's connected integration of the step's provider (refused without one).
        crm: crmStepPort({ pool: database.pool, handler, store: new SyncStore(database.pool, 'workflow-runner'), access: connections }),
      },
      new MailboxThrottle(ephemeral, { perMinute: config.MAILBOX_MAX_PER_MINUTE, perDay: config.MAILBOX_MAX_PER_DAY }),
      logger.child({ component: 'workflow-runner' }),
      metrics,
      {
        concurrency: config.WORKFLOW_RUNNER_CONCURRENCY,
        leaseMs: config.WORKFLOW_LEASE_MS,
        pollMs: config.WORKFLOW_POLL_MS,
        maxStepsPerClaim: 50,
        maxStepsPerExecution: config.WORKFLOW_MAX_STEPS_PER_EXECUTION,
        // PostgreSQL appends to several streams in one transaction (EventStoreDB does not).
        atomicAppends: events.appendAtomically !== undefined,
        prefetchMs: config.WORKFLOW_PREFETCH_MS,
        prefetchMax: config.WORKFLOW_PREFETCH_MAX,
      },
      await optional<WorkflowBacklog>(ctx, TOKENS.WorkflowBacklog),
    );
    // The executions projection committing (here, or in another process: NOTIFY) may have queued work; its
    // moves past other events (every append of other things: at 50 commands/s two claims and a look for the next
    // due time each) cannot have.
    const unlisten = watcher.onCommit('executions', () => runner.wake());
    health.add({ name: 'workflowRunner', check: async () => ({ ok: true, detail: runner.stats }) });
    lifecycle.onStart('workflow runner', () => runner.start());
    lifecycle.onStop('workflow runner', async () => {
      unlisten();
      await runner.stop();
    });
    return runner;
  });
  bind<Scheduler>(TOKENS.Scheduler).toDynamicValue(async (ctx) => {
    const [config, database, handler, firer, logger, lifecycle, health] = await deps<
      [Config, Database, CommandHandler, ScheduleFirer, Logger, Lifecycle, HealthChecks]
    >(ctx, TOKENS.Config, TOKENS.Database, TOKENS.CommandHandler, TOKENS.ScheduleFirer, TOKENS.Logger, TOKENS.Lifecycle, TOKENS.HealthChecks);
    const scheduler = new Scheduler(database.pool, handler, firer, logger.child({ component: 'scheduler' }), {
      pollMs: config.WORKFLOW_POLL_MS * 5,
      leaseMs: 5 * 60_000,
    });
    health.add({ name: 'scheduler', check: async () => ({ ok: true, detail: scheduler.stats }) });
    lifecycle.onStart('scheduler', () => scheduler.start());
    lifecycle.onStop('scheduler', () => scheduler.stop());
    return scheduler;
  });
});
