import { ContainerModule } from 'inversify';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AiFeatures } from '../../command-api/ai/ai-features.ts';
import type { VectorIndex } from '../../command-api/ai/ports.ts';
import { PromptBook } from '../../command-api/ai/prompt-book.ts';
import type { Config } from '../../infra/config/config.ts';
import type { Lifecycle } from '../../infra/di/lifecycle.ts';
import { deps, optional } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { Database } from '../../infra/postgres/module.ts';
import type { CheckpointWatcher } from '../../infra/readmodels/checkpoint-watcher.ts';
import type { WorkflowBacklog } from '../backlog.ts';
import { Embedder } from './embedder.ts';
import { contactEmbeddingsProjection } from './embeddings-projection.ts';

const prompts = new PromptBook();

/** Fills in the vectors (issue 22): woken when the embeddings projection moves, in this process or another. */
export const embedderModule = new ContainerModule((bind) => {
  bind<Embedder>(TOKENS.Embedder).toDynamicValue(async (ctx) => {
    const [config, features, index, database, watcher, logger, lifecycle] = await deps<
      [Config, AiFeatures, VectorIndex, Database, CheckpointWatcher, Logger, Lifecycle]
    >(ctx, TOKENS.Config, TOKENS.AiFeatures, TOKENS.VectorIndex, TOKENS.Database, TOKENS.CheckpointWatcher, TOKENS.Logger, TOKENS.Lifecycle);
    const embedder = new Embedder(features, index, logger.child({ component: 'embedder' }), {
      intervalMs: config.AI_EMBED_INTERVAL_MS,
      prompts: { contact: prompts.get('contact-embedding').id, email: prompts.get('email-embedding').id },
      lockConnection: database.embedded ? null : () => new pg.Client({ connectionString: database.url, connectionTimeoutMillis: 10_000 }),
    });
    // Not woken by every batch while the workflow runner has due work waiting (its periodic pass goes on).
    const backlog = await optional<WorkflowBacklog>(ctx, TOKENS.WorkflowBacklog);
    const unlisten = watcher.onCommit(contactEmbeddingsProjection.name, () => {
      if (!backlog?.active) embedder.wake();
    });
    lifecycle.onStart('embedder', () => embedder.start());
    lifecycle.onStop('embedder', async () => {
      unlisten();
      await embedder.stop();
    });
    return embedder;
  });
});
