import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { auditedEntities, replay } from '../domain/audit/entities.ts';
import type { NewEvent } from '../domain/events.ts';
import { loadConfig } from '../infra/config/config.ts';
import { verifyChains } from '../infra/eventstore/chain-verification.ts';
import { createContainer, migrateSchema } from '../infra/di/container.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import type { EventStore, StoredLog } from '../infra/eventstore/event-store.ts';
import { projectionModules } from '../projectors/modules.ts';
import { readModelOperationsModule } from '../projectors/rebuild/module.ts';
import type { RebuildableReadModel } from '../projectors/rebuild/ports.ts';
import type { ReadModelRebuilder } from '../projectors/rebuild/rebuild.ts';
import { auditEvents, auditRecordOf, ExportDigest } from '../query-api/audit/audit-events.ts';
import { mib, note, report } from './stats.ts';

const logger = pino({ level: 'silent' });

function metadata(tenantId: string) {
  return {
    tenantId,
    actor: { type: 'user' as const, id: randomUUID() },
    correlationId: randomUUID(),
    causationId: randomUUID(),
    occurredAt: new Date().toISOString(),
  };
}

/**
 * Replay and audit (issue 7), through the same event-store layers the processes use (hash chain, personal
 * data sealing, upcasting): replay of one long stream, a full rebuild of the search read model, an export,
 * and a verification of every chain.
 */
export async function benchAudit(url: string, options: { streamEvents: number; contacts: number }): Promise<void> {
  const config = loadConfig({ DATABASE_URL: url, JWT_SECRET: 'bench-secret-0123456789abcdef0123456789abcdef', LOG_LEVEL: 'silent' }, 'cli');
  // The modules the processes and the command line use: the same layers (chain, sealing, upcasting).
  const { container, lifecycle } = createContainer(config, logger, [readModelOperationsModule, ...projectionModules]);
  try {
    await migrateSchema(container);
    const tenant = randomUUID();
    const store = await container.getAsync<EventStore>(TOKENS.EventStore);
    const platform = await container.getAsync<StoredLog>(TOKENS.StoredLog);

    // One contact with a long history: every update's personal data sealed with the contact's key.
    const contactId = randomUUID();
    const stream = `contact-${contactId}`;
    const base = {
      contactId,
      organizationId: tenant,
      email: `${contactId}@example.com`,
      firstName: 'Ada',
      lastName: 'Lovelace',
      phone: null,
      company: 'Analytical',
      title: null,
      timezone: null,
      tags: [],
      customFields: {},
    };
    await store.append(
      stream,
      [{ id: randomUUID(), type: 'ContactCreated', version: 1, data: base, metadata: metadata(tenant) } as NewEvent],
      'no_stream',
    );
    let revision = 0;
    const writeStarted = performance.now();
    for (let done = 1; done < options.streamEvents; done += 500) {
      const count = Math.min(500, options.streamEvents - done);
      const events = Array.from({ length: count }, (_, i) => ({
        id: randomUUID(),
        type: 'ContactUpdated',
        version: 1,
        data: { contactId, changes: { title: `Title ${done + i}`, customFields: { score: done + i } } },
        metadata: metadata(tenant),
      })) as NewEvent[];
      await store.append(stream, events, revision);
      revision += count;
    }
    report(
      'audit.append_long_stream',
      options.streamEvents / ((performance.now() - writeStarted) / 1000),
      'events/s (batches of 500, chained and sealed)',
    );

    const replayStarted = performance.now();
    const events = await store.readStream(stream);
    const steps = replay(auditedEntities.contact.fold, events);
    const replaySeconds = (performance.now() - replayStarted) / 1000;
    if (steps.length !== options.streamEvents) throw new Error(`replayed ${steps.length} of ${options.streamEvents}`);
    report(
      'audit.replay_stream',
      options.streamEvents / replaySeconds,
      `events/s (one stream of ${options.streamEvents}: read, unseal, fold, state after each)`,
    );

    // Many contacts for the rebuild and the export.
    const other = randomUUID();
    for (let done = 0; done < options.contacts; done += 1_000) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, worker) => {
          for (let i = 0; i < 100; i++) {
            const id = randomUUID();
            const n = done + worker * 100 + i;
            const created = {
              ...base,
              contactId: id,
              organizationId: n % 2 ? tenant : other,
              email: `c${n}@example.com`,
              firstName: `First${n}`,
              lastName: `Last${n}`,
            };
            await store.append(
              `contact-${id}`,
              [{ id: randomUUID(), type: 'ContactCreated', version: 1, data: created, metadata: metadata(created.organizationId) } as NewEvent],
              'no_stream',
            );
          }
        }),
      );
    }
    const head = await store.headPosition();
    note(`log: ${head} events (${options.streamEvents} in one stream, ${options.contacts} contacts in two tenants)`);

    const tools = {
      rebuilder: await container.getAsync<ReadModelRebuilder>(TOKENS.ReadModelRebuilder),
      readModels: await container.getAllAsync<RebuildableReadModel>(TOKENS.RebuildableReadModels),
      close: () => undefined,
    };
    try {
      const model = tools.readModels.find((m) => m.name === 'search')!;
      const result = await tools.rebuilder.rebuild(model);
      report(
        'audit.rebuild_search',
        result.eventsPerSecond,
        `events/s (full rebuild into generation ${result.to}, ${result.eventsApplied} events applied)`,
      );
    } finally {
      tools.close();
    }

    const file = path.join(os.tmpdir(), `nf-bench-export-${randomUUID()}.jsonl`);
    try {
      const digest = new ExportDigest();
      const out = createWriteStream(file);
      const exportStarted = performance.now();
      const rssBefore = process.memoryUsage().rss;
      for await (const event of auditEvents(platform, { tenantId: tenant, from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' })) {
        const line = `${JSON.stringify(auditRecordOf(event))}\n`;
        digest.add(line);
        if (!out.write(line)) await once(out, 'drain');
      }
      out.end();
      await once(out, 'finish');
      digest.sha256();
      const seconds = (performance.now() - exportStarted) / 1000;
      report(
        'audit.export',
        mib(digest.bytes) / seconds,
        `MiB/s (${digest.bytes} bytes, ${Math.round((options.streamEvents + options.contacts / 2) / seconds)} events/s; RSS ${mib(rssBefore).toFixed(0)} → ${mib(process.memoryUsage().rss).toFixed(0)} MiB)`,
      );
    } finally {
      await rm(file, { force: true });
    }

    const verifyStarted = performance.now();
    const verified = await verifyChains(platform.log);
    if (verified.brokenLinks > 0) throw new Error('the bench log does not verify');
    report(
      'audit.verify',
      verified.events / ((performance.now() - verifyStarted) / 1000),
      `events/s (${verified.events} events, ${verified.streams} streams)`,
    );
  } finally {
    await lifecycle.stop();
  }
}
