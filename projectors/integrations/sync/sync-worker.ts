import type { Logger } from 'pino';
import { CrmError, CrmQuotaExhausted, CrmRateLimited, CrmRequestRejected } from '../ports.ts';
import { integrationDecider, integrationStream } from '../../../domain/integrations/integration.ts';
import { ApiBudgetSpent, IntegrationSync, LeaseLost, type SyncDependencies } from './integration-sync.ts';
import type { ClaimedIntegration } from './sync-store.ts';

export interface SyncWorkerOptions {
  /** Integrations synced at once by this process. */
  concurrency: number;
  /** How often it looks for due integrations when nothing woke it. */
  pollMs: number;
}

export interface SyncWorkerStats {
  visits: number;
  failures: number;
  running: number;
}

/**
 * After a failed visit the integration waits 2 s, doubling with each failure in a row up to a minute: a
 * passing hiccup costs seconds, an outage is not hammered.
 */
const FIRST_HOLD_MS = 2_000;
const MAX_HOLD_MS = 60_000;
/** A quota whose reset the provider did not say: look again in an hour. */
const QUOTA_HOLD_MS = 60 * 60_000;

/**
 * The CRM sync worker (one per projector process; several processes share the work through leases):
 * claims integrations that are due (crm_sync_integrations, kept by the sync projection), visits each
 * (IntegrationSync), and lets it go with when to come back: at once when work waits, after Retry-After on a
 * rate limit, at the quota's reset, the next UTC day when the integration's own API budget is spent.
 */
export class SyncWorker {
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private started = false;
  private looking: Promise<void> | null = null;
  private readonly running = new Set<Promise<void>>();
  /** Failed visits in a row, per integration (this process's own back-off). */
  private readonly failuresInARow = new Map<string, number>();
  readonly stats: SyncWorkerStats = { visits: 0, failures: 0, running: 0 };

  constructor(
    private readonly deps: SyncDependencies,
    private readonly logger: Logger,
    private readonly options: SyncWorkerOptions,
  ) {}

  start(): void {
    this.started = true;
    this.stopping = false;
    this.schedule(0);
  }

  /** Something became due (a projection moved): look now rather than at the next poll (once started). */
  wake(): void {
    if (this.started && !this.stopping && !this.looking) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.looking;
    await Promise.allSettled([...this.running]);
  }

  /** Claims and visits what is due until nothing is (tests and the bench call it directly). */
  async drain(): Promise<number> {
    let visited = 0;
    for (;;) {
      const free = this.options.concurrency - this.running.size;
      if (free <= 0) {
        await Promise.race(this.running);
        continue;
      }
      const claimed = await this.deps.store.claim(new Date(), free, this.deps.leaseMs);
      if (claimed.length === 0) break;
      for (const row of claimed) {
        const visit = this.visit(row).finally(() => {
          this.running.delete(visit);
          this.stats.running = this.running.size;
        });
        this.running.add(visit);
        this.stats.running = this.running.size;
        visited += 1;
      }
      if (this.stopping) break;
    }
    await Promise.allSettled([...this.running]);
    return visited;
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.looking = this.drain()
        .then(
          () => undefined,
          (err: unknown) => this.logger.error({ err }, 'the CRM sync worker could not claim work'),
        )
        .finally(() => {
          this.looking = null;
          this.schedule(this.options.pollMs);
        });
    }, delayMs);
    this.timer.unref?.();
  }

  private async visit(row: ClaimedIntegration): Promise<void> {
    this.stats.visits += 1;
    let notBefore = new Date();
    let paused: string | null = null;
    try {
      await new IntegrationSync(this.deps, row).visit();
      this.failuresInARow.delete(row.integrationId);
    } catch (err) {
      if (err instanceof LeaseLost) return; // another worker has it now: leave its row alone
      ({ notBefore, paused } = await this.afterFailure(row, err));
    }
    await this.deps.store.release(row.integrationId, notBefore, paused);
  }

  /** When to come back after a failed visit, and what the run in progress becomes. */
  private async afterFailure(row: ClaimedIntegration, err: unknown): Promise<{ notBefore: Date; paused: string | null }> {
    const now = Date.now();
    if (err instanceof CrmRateLimited)
      return { notBefore: new Date(now + Math.max(err.retryAfterMs, 1_000)), paused: 'rate limited by the provider' };
    if (err instanceof CrmQuotaExhausted) {
      const reset = err.resetAt ? Date.parse(err.resetAt) : NaN;
      return {
        notBefore: new Date(Number.isFinite(reset) && reset > now ? reset : now + QUOTA_HOLD_MS),
        paused: "the provider's API quota is spent",
      };
    }
    if (err instanceof ApiBudgetSpent) return { notBefore: err.until, paused: "the integration's daily API budget is spent" };
    this.stats.failures += 1;
    const inARow = (this.failuresInARow.get(row.integrationId) ?? 0) + 1;
    this.failuresInARow.set(row.integrationId, inARow);
    const holdMs = Math.min(MAX_HOLD_MS, FIRST_HOLD_MS * 2 ** (inARow - 1));
    // A refused request (not a limit or an outage) ends the run: retrying would be refused again.
    const runEnds = err instanceof CrmRequestRejected || !(err instanceof CrmError);
    if (runEnds) await this.failRun(row, err);
    else this.logger.warn({ err, integrationId: row.integrationId }, 'CRM sync visit failed; it is tried again later');
    return { notBefore: new Date(now + holdMs), paused: null };
  }

  private async failRun(row: ClaimedIntegration, err: unknown): Promise<void> {
    this.logger.error({ err, integrationId: row.integrationId }, 'CRM sync run failed');
    try {
      const loaded = await this.deps.handler.load(integrationStream(row.integrationId), integrationDecider);
      const state = loaded.state;
      if (state.status !== 'connected' || !state.run) return;
      this.deps.metrics?.crmSyncRuns.inc({ provider: state.provider, kind: state.run.kind, outcome: 'failed' });
      await this.deps.handler.handle(
        integrationStream(row.integrationId),
        integrationDecider,
        {
          type: 'FailSync',
          data: {
            integrationId: state.id,
            organizationId: state.organizationId,
            runId: state.run.runId,
            reason: err instanceof Error ? err.message : String(err),
            // Retryable: the next run resumes at the last checkpoint.
            retryable: !(err instanceof CrmRequestRejected),
          },
        },
        {
          tenantId: state.organizationId,
          actor: { type: 'system', id: `crm-sync:${state.id}` },
          correlationId: state.run.runId,
          causationId: state.run.runId,
          now: new Date(),
        },
      );
    } catch (failure) {
      this.logger.error({ err: failure, integrationId: row.integrationId }, 'could not record the failed CRM sync run');
    }
  }
}
