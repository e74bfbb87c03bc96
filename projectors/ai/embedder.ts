import type pg from 'pg';
import type { Logger } from 'pino';
import type { AiFeatures } from '../../command-api/ai/ai-features.ts';
import { vectorModelOf } from '../../command-api/ai/ai-features.ts';
import { AiDisabledError } from '../../command-api/ai/ai-service.ts';
import type { EmbeddingToMake, VectorIndex } from '../../command-api/ai/ports.ts';
import { PlanLimitReachedError } from '../../domain/billing/quota.ts';
import { PeriodicPass } from '../../infra/periodic.ts';

/** Texts per provider call (OpenAI takes up to 2,048 inputs; a hundred short texts is one quick call). */
const BATCH = 100;
/** One embedder at a time across processes: a session advisory lock on this key. */
const LOCK_KEY = 0x6e66_6169; // "nfai"

export interface EmbedderOptions {
  intervalMs: number;
  /** The prompt each kind's texts were made by (named in the usage events). */
  prompts: Record<string, string>;
  /**
   * Where the lock that keeps one embedder at a time is taken: a connection of its own (never one of the
   * shared pool, which it would hold for a whole pass). Null on the embedded database (one process).
   */
  lockConnection: (() => pg.Client) | null;
}

/**
 * Fills in the vectors of the rows the embeddings projection listed (projectors/ai/embeddings-projection.ts),
 * a hundred texts per call, through the AI service: an organization that turned AI off, or has used its
 * monthly allowance, is skipped (its rows wait until it is on or a new period starts), and the tokens are
 * recorded as its usage (`index/embeddings`). A provider that is down ends the pass; the next tries again.
 * Woken when the projection moves, else every `intervalMs`; one process embeds at a time.
 */
export class Embedder {
  private readonly passes: PeriodicPass;
  private lock: pg.Client | null = null;

  constructor(
    private readonly features: AiFeatures,
    private readonly index: VectorIndex,
    private readonly logger: Logger,
    private readonly options: EmbedderOptions,
  ) {
    this.passes = new PeriodicPass(
      () => this.pass(),
      options.intervalMs,
      (err) => this.logger.warn({ err }, 'embedding pass failed; the next one tries again'),
    );
  }

  start(): void {
    this.passes.start();
  }

  wake(): void {
    this.passes.wake();
  }

  async stop(): Promise<void> {
    await this.passes.stop();
    const lock = this.lock;
    this.lock = null;
    await lock?.end().catch(() => undefined);
  }

  /** One pass: everything pending that may be embedded now. Answers how many vectors were stored. */
  async pass(): Promise<number> {
    const lock = await this.lockClient();
    if (lock) {
      const { rows } = await lock.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [LOCK_KEY]);
      if (!rows[0]?.locked) return 0;
    }
    try {
      return await this.embedPending();
    } finally {
      await lock?.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
    }
  }

  /** The lock's connection, opened on first use and again after it broke. */
  private async lockClient(): Promise<pg.Client | null> {
    if (!this.options.lockConnection) return null;
    if (this.lock) return this.lock;
    const client = this.options.lockConnection();
    client.on('error', (err) => {
      this.logger.warn({ err }, "the embedder's lock connection broke; the next pass opens another");
      if (this.lock === client) this.lock = null;
    });
    await client.connect();
    this.lock = client;
    return client;
  }

  private async embedPending(): Promise<number> {
    const skipped = new Set<string>();
    let stored = 0;
    for (;;) {
      const pending = await this.index.pending(BATCH, skipped.size > 0 ? { excludeOrganizationIds: [...skipped] } : {});
      if (pending.length === 0) return stored;
      const progress = { stored, skipped: skipped.size };
      // One call per organization and kind (its usage is the organization's, under the kind's prompt).
      const groups = new Map<string, EmbeddingToMake[]>();
      for (const item of pending) {
        const key = `${item.organizationId}/${item.kind}`;
        groups.set(key, [...(groups.get(key) ?? []), item]);
      }
      for (const items of groups.values()) {
        const organizationId = items[0]!.organizationId;
        if (skipped.has(organizationId)) continue;
        try {
          stored += await this.embed(organizationId, items);
        } catch (err) {
          if (err instanceof AiDisabledError || err instanceof PlanLimitReachedError) {
            skipped.add(organizationId);
            this.logger.debug({ organizationId, reason: (err as { code: string }).code }, 'not embedding this organization now');
            continue;
          }
          throw err;
        }
      }
      // Nothing stored and nobody newly skipped: what is left changes under us; the next pass takes it.
      if (stored === progress.stored && skipped.size === progress.skipped) return stored;
    }
  }

  private async embed(organizationId: string, items: EmbeddingToMake[]): Promise<number> {
    const context = {
      tenantId: organizationId,
      actor: { type: 'system' as const, id: 'embedder' },
      correlationId: `embedder-${Date.now()}`,
      causationId: 'embedder',
      now: new Date(),
    };
    const outcome = await this.features.service.background({
      context,
      organizationId,
      endpoint: 'index/embeddings',
      prompt: this.options.prompts[items[0]!.kind] ?? items[0]!.kind,
      invoke: () => this.features.embedding(items.map((item) => item.text)),
    });
    const { vectors, model } = outcome.result;
    return this.index.store(
      items.map((item, i) => ({
        organizationId,
        kind: item.kind,
        itemId: item.itemId,
        textHash: item.textHash,
        model: vectorModelOf(model, vectors[i]!),
        vector: vectors[i]!,
      })),
    );
  }
}
