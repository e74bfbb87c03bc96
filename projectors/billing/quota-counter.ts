import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { QuotaGate } from '../../command-api/billing/quota-gate.ts';
import { WrongExpectedRevisionError } from '../../command-api/ports.ts';
import type { QuotaKind } from '../../domain/billing/quota.ts';
import type { CommandContext } from '../../domain/events.ts';
import { PeriodicPass } from '../../infra/periodic.ts';

/**
 * The kinds whose writes take units (the command side's QuotaGate.taking): contacts, active workflows
 * (created or resumed), seats (members joining or reactivated), executions started in the billing period.
 */
export const countedQuotaKinds: readonly QuotaKind[] = ['contacts', 'activeWorkflows', 'seats', 'executionsPerMonth'];

/** The log's head, and its order (the event store). */
export interface LogHead {
  headPosition(): Promise<string | null>;
  comparePositions(a: string, b: string): number;
}

/**
 * A read model's count of a kind for an organization, and which of some owners it holds, both as of one
 * snapshot (one statement).
 */
export interface QuotaReadModels {
  /** The projections the count is read from (waited for). */
  projections(kind: QuotaKind): readonly string[];
  count(
    kind: QuotaKind,
    organizationId: string,
    owners: readonly string[],
    period: { start: Date; end: Date } | null,
  ): Promise<{ count: number; present: Set<string> }>;
  /** Organizations on a catalog plan (those a limit can apply to). */
  organizationsOnPlans(): Promise<string[]>;
}

export interface QuotaCounterDeps {
  gate: QuotaGate;
  log: LogHead;
  readModels: QuotaReadModels;
  progress: { waitFor(projections: readonly string[], position: string, timeoutMs: number): Promise<boolean> };
  logger: Logger;
}

const TRIES = 5;
/** How long a count waits for the read models to hold the log it read. */
const CATCH_UP_MS = 30_000;

/**
 * Counts an organization's units of a limited kind from the read models when its plan starts limiting them
 * (domain/billing/quota.ts): the quota stream's count from then on. The count must hold exactly the units
 * its quota stream recorded through the revision it is appended at:
 * - it waits until the read models hold the log up to its head read before the stream, so every unit
 *   recorded before that head is in the read model's count;
 * - a unit recorded after that head is checked by its owner in the same snapshot as the count (a contact
 *   the read model does not hold yet is added; one it still holds though given back is taken off);
 * - it is appended at the stream's revision: a unit recorded meanwhile refuses it and it counts again.
 */
export class QuotaCounter {
  private readonly periodic: PeriodicPass;
  /** The counts asked for by a status change, one after the other. */
  private asked: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly deps: QuotaCounterDeps,
    intervalMs: number,
  ) {
    this.periodic = new PeriodicPass(
      () => this.pass(),
      intervalMs,
      (err) => this.failed(err),
    );
  }

  /** A pass now and every interval; an organization whose status changed (a new plan) is counted at once. */
  start(): void {
    this.stopped = false;
    this.periodic.start();
  }

  /** The organization's plan changed (or may have): count what it now limits. */
  changed(organizationId: string): void {
    if (this.stopped) return;
    this.asked = this.asked.then(() => this.countOrganization(organizationId)).catch((err: unknown) => this.failed(err));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.periodic.stop(), this.asked]);
  }

  /**
   * Until the read models hold the log up to `head`: at most 30 s, and not past a stop (waited for in slices,
   * so that stopping the process does not wait out the read models that stopped first).
   */
  private async caughtUp(projections: readonly string[], head: string): Promise<boolean> {
    const deadline = Date.now() + CATCH_UP_MS;
    for (;;) {
      if (await this.deps.progress.waitFor(projections, head, Math.min(1_000, Math.max(1, deadline - Date.now())))) return true;
      if (this.stopped || Date.now() >= deadline) return false;
    }
  }

  private failed(err: unknown): void {
    this.deps.logger.error({ err }, 'could not count the units a plan limits; the next pass tries again');
  }

  /** Every organization on a plan: counts what is wanted (a plan whose limit staff set meanwhile, a missed change). */
  async pass(): Promise<number> {
    let counted = 0;
    for (const organizationId of await this.deps.readModels.organizationsOnPlans()) {
      if (this.stopped) break;
      counted += (await this.countOrganization(organizationId)).length;
    }
    return counted;
  }

  /** Counts what the organization's plan wants counted; answers the kinds counted. */
  async countOrganization(organizationId: string): Promise<QuotaKind[]> {
    const counted: QuotaKind[] = [];
    for (const kind of countedQuotaKinds) {
      if (this.stopped) break;
      if (await this.countKind(organizationId, kind)) counted.push(kind);
    }
    return counted;
  }

  private async countKind(organizationId: string, kind: QuotaKind): Promise<boolean> {
    const { gate, log, readModels } = this.deps;
    // Most changes want no count (no plan, no limit on the kind, or counted already): known without waiting.
    if (!(await gate.countWanted(organizationId, kind))) return false;
    for (let attempt = 1; attempt <= TRIES; attempt++) {
      const head = await log.headPosition();
      if (head !== null && !(await this.caughtUp(readModels.projections(kind), head))) return false;
      const wanted = await gate.countWanted(organizationId, kind);
      if (!wanted) return false;
      const recent = wanted.units.filter((unit) => head === null || log.comparePositions(unit.position, head) > 0);
      // A bulk's units (an import) name no one owner to look for: count once its contacts are in.
      if (recent.some((unit) => unit.event.data.units !== undefined)) return false;
      const snapshot = await readModels.count(
        kind,
        organizationId,
        recent.map((unit) => unit.event.data.ownerId),
        wanted.period,
      );
      // By each owner's last unit: taken and not in the read model yet, or given back and still in it.
      const last = new Map(recent.map(({ event }) => [event.data.ownerId, event.type]));
      let count = snapshot.count;
      for (const [owner, type] of last) {
        const held = snapshot.present.has(owner);
        if (type === 'QuotaTaken' && !held) count += 1;
        if (type === 'QuotaReleased' && held) count -= 1;
      }
      try {
        await gate.recordCount(this.context(organizationId), organizationId, kind, Math.max(0, count), wanted);
        this.deps.logger.info({ organizationId, kind, count }, 'counted the units a plan limits');
        return true;
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError)) throw err;
      }
    }
    return false;
  }

  private context(organizationId: string): CommandContext {
    return {
      tenantId: organizationId,
      actor: { type: 'system', id: 'quota-counter' },
      correlationId: randomUUID(),
      causationId: randomUUID(),
      now: new Date(),
    };
  }
}
