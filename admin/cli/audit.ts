import { createWriteStream } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { auditedEntities, entityOfStream, isAuditedEntityType, replay, type ReplayLimit } from '../../domain/audit/entities.ts';
import { verifyChains } from '../../infra/eventstore/chain-verification.ts';
import { isInt64Digits } from '../../infra/eventstore/envelope.ts';
import { lagBetween } from '../../projectors/projector-host.ts';
import { auditColumns, auditEvents, auditRecordOf, ExportDigest } from '../../query-api/audit/audit-events.ts';
import { auditLogPage } from '../../query-api/audit/audit-log.ts';
import { CliError, ExitCode, parseOrUsage, withPlatform, type Output } from './support.ts';

const instant = z.iso.datetime({ offset: true });

/** A progress bar on a terminal; elsewhere (CI, pipes) nothing, the result says it all. */
function progressBar(label: string, json: boolean | undefined): SingleBar | null {
  if (json || !process.stderr.isTTY) return null;
  return new SingleBar({ format: `${label} [{bar}] {percentage}% | {done} events`, hideCursor: true, stream: process.stderr });
}

/** `nexusflow replay …` and `nexusflow audit …`: what happened, what the state was, and whether the log is intact. */
export function auditCommands(program: Command, output: Output): void {
  program
    .command('replay')
    .description('Replay history')
    .command('stream')
    .argument('<stream>', 'a stream id such as contact-<id> or organization-<id>')
    .option('--until <time|position>', 'stop after the last event at or before this ISO 8601 time or log position')
    .option('--json', 'one JSON document on stdout')
    .description("The entity's state after each of its events, and at the end (secrets redacted)")
    .action(async (stream: string, options: { until?: string; json?: boolean }) => {
      const entity = entityOfStream(stream);
      if (!entity || !isAuditedEntityType(entity.type)) {
        throw new CliError(
          `cannot replay "${stream}": streams of ${Object.keys(auditedEntities).join(', ')} can be replayed (<type>-<id>)`,
          ExitCode.Usage,
        );
      }
      await withPlatform(async ({ platform }) => {
        let limit: ReplayLimit = null;
        if (options.until !== undefined) {
          if (instant.safeParse(options.until).success) limit = { at: new Date(options.until) };
          else if (platform.eventStore.isValidPosition(options.until))
            limit = { position: options.until, compare: (a, b) => platform.eventStore.comparePositions(a, b) };
          else throw new CliError('--until must be an ISO 8601 date-time or a log position', ExitCode.Usage);
        }
        const events = await platform.eventStore.readStream(stream);
        if (events.length === 0) throw new CliError(`no events in stream ${stream}`, ExitCode.Failure);
        const steps = replay(auditedEntities[entity.type as keyof typeof auditedEntities].fold, events, limit);
        if (options.json) return output.json({ stream, until: options.until ?? null, events: events.length, replayed: steps.length, steps });
        output.table(
          ['revision', 'position', 'occurred', 'event', 'actor'],
          steps.map((s) => [String(s.revision), s.position, s.occurredAt, `${s.type} v${s.version}`, `${s.actor.type}:${s.actor.id}`]),
        );
        const last = steps[steps.length - 1];
        output.line(
          last
            ? `state after revision ${last.revision}:\n${JSON.stringify(last.state, null, 2)}`
            : `the entity did not exist yet at ${options.until}`,
        );
      });
    });

  const audit = program.command('audit').description('The audit trail: entries, exports, tamper evidence');

  audit
    .command('log')
    .description('Who did what and when, newest first (from the audit read model)')
    .option('--tenant <organizationId>', 'one organization (default: platform-level entries: staff, plans)')
    .option('--entity <id>', 'an entity id or a stream id')
    .option('--actor <id>', 'who acted')
    .option('--type <eventType>', 'one event type')
    .option('--from <time>', 'happened at or after (ISO 8601)')
    .option('--to <time>', 'happened before (ISO 8601)')
    .option('--limit <n>', 'entries per page (1-1000)', '50')
    .option('--cursor <cursor>', 'the next cursor of a previous page')
    .option('--json', 'one JSON document on stdout')
    .action(async (raw: Record<string, string | boolean | undefined>) => {
      const options = parseOrUsage(
        z.object({
          tenant: z.uuid({ error: 'must be an organization id' }).optional(),
          entity: z.string().max(300).optional(),
          actor: z.string().max(200).optional(),
          type: z
            .string()
            .regex(/^[A-Za-z]{1,100}$/, 'must be an event type')
            .optional(),
          from: instant.optional(),
          to: instant.optional(),
          limit: z.coerce.number().int().min(1).max(1_000),
          cursor: z
            .string()
            .regex(/^\d{1,19}$/, 'must be a cursor printed by a previous page')
            .refine(isInt64Digits, 'must be a cursor printed by a previous page')
            .optional(),
          json: z.boolean().optional(),
        }),
        raw,
      );
      await withPlatform(async ({ platform }) => {
        const page = await auditLogPage(platform.orm, options.tenant ?? null, options);
        if (options.json) return output.json(page);
        output.table(
          ['occurred', 'event', 'entity', 'actor', 'position'],
          page.data.map((e) => [
            e.occurredAt,
            e.eventType,
            `${e.entity.type ?? '?'}:${e.entity.id ?? e.streamId}`,
            `${e.actor.type}:${e.actor.id}`,
            e.position,
          ]),
        );
        if (page.page.nextCursor) output.line(`more: --cursor ${page.page.nextCursor}`);
      });
    });

  audit
    .command('export')
    .description("An organization's events of a range, oldest first, streamed to a file, with a manifest (counts, positions, sha256)")
    .requiredOption('--tenant <organizationId>', 'the organization')
    .requiredOption('--from <time>', 'happened at or after (ISO 8601)')
    .requiredOption('--to <time>', 'happened before (ISO 8601)')
    .option('--format <format>', 'jsonl or csv', 'jsonl')
    .requiredOption('--output <file>', 'where to write (the manifest goes to <file>.manifest.json)')
    .option('--json', 'print the manifest as JSON on stdout')
    .action(async (raw: Record<string, string | boolean | undefined>) => {
      const options = parseOrUsage(
        z.object({
          tenant: z.uuid({ error: 'must be an organization id' }),
          from: instant,
          to: instant,
          format: z.enum(['jsonl', 'csv'], { error: 'must be jsonl or csv' }),
          output: z.string().min(1),
          json: z.boolean().optional(),
        }),
        raw,
      );
      if (Date.parse(options.from) >= Date.parse(options.to)) throw new CliError('--to must be after --from', ExitCode.Usage);
      await withPlatform(async ({ platform }) => {
        const started = Date.now();
        const digest = new ExportDigest();
        // Written beside the target and renamed at the end: a failed export never leaves a plausible file.
        const partial = `${options.output}.partial`;
        const file = createWriteStream(partial, { mode: 0o600 });
        const write = async (chunk: string) => {
          digest.add(chunk);
          if (!file.write(chunk)) await once(file, 'drain');
        };
        const bar = progressBar(`export ${options.tenant}`, options.json);
        bar?.start(100, 0, { done: 0 });
        if (options.format === 'csv') await write(stringify([[...auditColumns]]));
        const range = { tenantId: options.tenant, from: new Date(options.from).toISOString(), to: new Date(options.to).toISOString() };
        const events = auditEvents({ log: platform.storedLog, readable: platform.readable }, range, {
          onPage: (position, head) => {
            const behind = lagBetween(position, head);
            const total = lagBetween(null, head);
            if (bar && behind !== null && total) bar.update(Math.floor(((total - behind) / total) * 100), { done: digest.events });
          },
        });
        for await (const event of events) {
          const record = auditRecordOf(event);
          digest.count(record);
          await write(
            options.format === 'csv'
              ? stringify([auditColumns.map((c) => (c === 'data' ? JSON.stringify(record.data) : record[c]))])
              : `${JSON.stringify(record)}\n`,
          );
        }
        file.end();
        await once(file, 'finish');
        await rename(partial, options.output);
        bar?.update(100, { done: digest.events });
        bar?.stop();
        const seconds = (Date.now() - started) / 1000;
        const manifest = {
          file: options.output,
          format: options.format,
          tenantId: options.tenant,
          from: range.from,
          to: range.to,
          events: digest.events,
          bytes: digest.bytes,
          sha256: digest.sha256(),
          firstPosition: digest.firstPosition,
          lastPosition: digest.lastPosition,
          types: digest.types,
          generatedAt: new Date().toISOString(),
          seconds,
          peakRssBytes: process.resourceUsage().maxRSS * 1024,
        };
        await writeFile(`${options.output}.manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
        if (options.json) return output.json(manifest);
        output.line(
          `${manifest.events} events, ${manifest.bytes} bytes in ${seconds.toFixed(1)} s (${(manifest.bytes / 1e6 / Math.max(seconds, 0.001)).toFixed(1)} MB/s) → ${options.output}\n` +
            `sha256 ${manifest.sha256}; manifest: ${options.output}.manifest.json`,
        );
      });
    });

  audit
    .command('verify')
    .description("Check every stream's hash chain; exits 1 and names the first broken link if the log was altered")
    .option('--tenant <organizationId>', "only this organization's streams")
    .option('--expect-heads <digest>', 'a heads digest from an earlier run: also catches a change to the newest event of a stream')
    .option('--json', 'one JSON document on stdout')
    .action(async (raw: Record<string, string | boolean | undefined>) => {
      const options = parseOrUsage(
        z.object({
          tenant: z.uuid({ error: 'must be an organization id' }).optional(),
          expectHeads: z
            .string()
            .regex(/^[0-9a-f]{64}$/, 'must be a digest printed by an earlier run')
            .optional(),
          json: z.boolean().optional(),
        }),
        raw,
      );
      await withPlatform(async ({ platform }) => {
        const bar = progressBar('verify', options.json);
        const head = await platform.storedLog.headPosition();
        const total = lagBetween(null, head);
        bar?.start(100, 0, { done: 0 });
        const report = await verifyChains(platform.storedLog, {
          ...(options.tenant ? { tenantId: options.tenant } : {}),
          onProgress: (checked, position) => {
            const behind = lagBetween(position, head);
            if (bar && behind !== null && total) bar.update(Math.floor(((total - behind) / total) * 100), { done: checked });
          },
        });
        bar?.update(100);
        bar?.stop();
        const headsChanged = options.expectHeads !== undefined && !options.tenant && options.expectHeads !== report.headsDigest;
        const intact = report.brokenLinks === 0 && !headsChanged;
        if (options.json) output.json({ intact, headsChanged, ...report });
        else if (intact)
          output.line(
            `intact: ${report.events} events in ${report.streams} streams (${report.unchained} from before chaining); heads digest ${report.headsDigest}`,
          );
        else {
          const broken = report.firstBroken;
          output.line(
            broken
              ? `BROKEN: ${report.brokenLinks} link(s); first at ${broken.streamId} revision ${broken.revision} (position ${broken.position}): ${broken.reason === 'revision_gap' ? 'an event before it is missing' : 'the event before it was altered'}`
              : `BROKEN: the heads digest changed (${report.headsDigest}): the newest event of some stream was altered`,
          );
        }
        if (!intact) throw new CliError('the log does not verify', ExitCode.Failure);
      });
    });
}
