import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { RebuildInProgressError, type RebuildProgress } from '../../projectors/rebuild/rebuild.ts';
import { GenerationConflictError } from '../../infra/readmodels/generations.ts';
import { projectionStatuses } from '../../infra/readmodels/projection-status.ts';
import { projectionTables } from '../../projectors/read-models.ts';
import { DomainError } from '../../domain/errors.ts';
import { CliError, ExitCode, withPlatform, type Output } from './support.ts';

/** `nexusflow projections …`: where each projection is, and rebuilds of the search and analytics read models. */
export function projectionCommands(program: Command, output: Output): void {
  const command = program.command('projections').description('Projections and the read models they build');

  command
    .command('list')
    .description('Every projection: its position in the log, how far behind the head it is, its parked events')
    .option('--json', 'one JSON document on stdout')
    .action(async (options: { json?: boolean }) => {
      await withPlatform(async ({ platform, services }) => {
        const known = {
          projections: (await services.projections()).map((p) => p.name),
          rebuildable: (await services.rebuildableReadModels()).map((m) => m.name),
        };
        const { head, projections: list } = await projectionStatuses(platform, known);
        if (options.json) return output.json({ head, projections: list });
        output.table(
          ['projection', 'generation', 'position', 'lag', 'parked', 'updated'],
          list.map((p) => [
            p.name + (p.served ? '' : ' (previous)'),
            p.generation === null ? '' : String(p.generation),
            p.position ?? '-',
            p.lag === null ? '?' : String(p.lag),
            String(p.parked),
            p.updatedAt ?? '-',
          ]),
        );
        output.line(`head of the log: ${head ?? '(empty)'}`);
      });
    });

  command
    .command('rebuild')
    .argument('<name>', 'search or analytics')
    .description(
      'Rebuild a read model from the whole log into a new generation while the current one keeps serving, then switch readers to it at once',
    )
    .option('--json', 'no progress bar; the result as one JSON document on stdout')
    .action(async (name: string, options: { json?: boolean }) => {
      await withPlatform(async ({ services }) => {
        const readModels = await services.rebuildableReadModels();
        {
          const model = readModels.find((m) => m.name === name);
          if (!model) {
            throw new CliError(`unknown read model "${name}": choose one of ${readModels.map((m) => m.name).join(', ')}`, ExitCode.Usage);
          }
          const bar =
            options.json || !process.stderr.isTTY
              ? null
              : new SingleBar({
                  format: `${name} → generation {generation} [{bar}] {percentage}% | {events} events | {rate} events/s | {phase}`,
                  hideCursor: true,
                  stream: process.stderr,
                });
          const started = Date.now();
          let lastLine = 0;
          const onProgress = (progress: RebuildProgress) => {
            const payload = {
              generation: progress.generation,
              events: progress.eventsApplied,
              rate: Math.round(progress.eventsApplied / Math.max(0.001, (Date.now() - started) / 1000)),
              phase: progress.lastError ? `retrying: ${progress.lastError.slice(0, 60)}` : progress.phase,
            };
            if (bar) {
              if (!bar.isActive) bar.start(100, 0, payload);
              bar.update(Math.floor((progress.fraction ?? 0) * 100), payload);
            } else if (!options.json && Date.now() - lastLine > 2_000) {
              // Not a terminal (CI, a pipe): a line every two seconds instead of a redrawn bar.
              lastLine = Date.now();
              output.line(
                `${name} → generation ${payload.generation}: ${progress.fraction === null ? '' : `${Math.floor(progress.fraction * 100)}% `}${payload.events} events, ${payload.rate} events/s, ${payload.phase}`,
              );
            }
          };
          try {
            const result = await (await services.rebuilder()).rebuild(model, { onProgress });
            bar?.update(100, { phase: 'done' });
            bar?.stop();
            if (options.json) return output.json(result);
            output.line(
              `${name}: generation ${result.to} serves now (was ${result.from}); ${result.eventsApplied} events in ${result.seconds.toFixed(1)} s ` +
                `(${Math.round(result.eventsPerSecond)} events/s), at position ${result.position ?? '-'}` +
                (result.parked > 0 ? `; ${result.parked} event(s) parked: see \`nexusflow projections list\`` : ''),
            );
          } catch (err) {
            bar?.stop();
            if (err instanceof RebuildInProgressError || err instanceof GenerationConflictError) throw new CliError(err.message, ExitCode.Conflict);
            throw err;
          }
        }
      });
    });

  command
    .command('reset')
    .argument('<name>', 'a read-model projection (see `projections list`); search and analytics are rebuilt instead')
    .option('--yes', 'really empty it: stop the projectors process first, or it carries on from where it was')
    .option('--json', 'one JSON document on stdout')
    .description("Empty a projection's tables, its parked events and its checkpoint, so that it is built again from the first event")
    .action(async (name: string, options: { yes?: boolean; json?: boolean }) => {
      if (['search', 'analytics'].includes(name)) {
        throw new CliError(`${name} is rebuilt without downtime instead: nexusflow projections rebuild ${name}`, ExitCode.Usage);
      }
      const tables = projectionTables[name];
      if (!tables) throw new CliError(`unknown projection "${name}": choose one of ${Object.keys(projectionTables).join(', ')}`, ExitCode.Usage);
      if (!options.yes) {
        throw new CliError(`this empties ${tables.join(', ')}: stop the projectors process, then run again with --yes`, ExitCode.Usage);
      }
      await withPlatform(async ({ platform }) => {
        const client = await platform.pool.connect();
        try {
          await client.query('BEGIN');
          // One transaction: readers see the full old read model or the empty one, never half of it.
          await client.query(`TRUNCATE ${tables.map((t) => `"${t}"`).join(', ')}`);
          const parked = await client.query('DELETE FROM parked_events WHERE projection = $1', [name]);
          await client.query('UPDATE projection_checkpoints SET position = NULL, updated_at = now() WHERE name = $1', [name]);
          await client.query('COMMIT');
          const result = { projection: name, tables, parkedDropped: parked.rowCount ?? 0 };
          if (options.json) return output.json(result);
          output.line(
            `${name}: emptied ${tables.join(', ')} and its checkpoint (${result.parkedDropped} parked event(s) dropped); it is built again from the first event when the projectors start`,
          );
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
      });
    });

  command
    .command('parked')
    .description('Events projections could not apply and parked (unresolved ones)')
    .option('--projection <name>', 'one projection')
    .option('--json', 'one JSON document on stdout')
    .action(async (options: { projection?: string; json?: boolean }) => {
      await withPlatform(async ({ platform }) => {
        const { rows } = await platform.pool.query<{
          id: string;
          projection: string;
          event_type: string;
          stream_id: string;
          position: string;
          attempts: number;
          error: string;
          parked_at: Date;
        }>(
          `SELECT id, projection, event_type, stream_id, position, attempts, error, parked_at FROM parked_events
           WHERE resolved_at IS NULL AND ($1::text IS NULL OR projection = $1) ORDER BY id`,
          [options.projection ?? null],
        );
        const parked = rows.map((r) => ({
          id: String(r.id),
          projection: r.projection,
          eventType: r.event_type,
          streamId: r.stream_id,
          position: r.position,
          attempts: r.attempts,
          error: r.error,
          parkedAt: r.parked_at.toISOString(),
        }));
        if (options.json) return output.json({ parked });
        output.table(
          ['id', 'projection', 'event', 'stream', 'attempts', 'error'],
          parked.map((p) => [p.id, p.projection, p.eventType, p.streamId, String(p.attempts), p.error.slice(0, 80)]),
        );
      });
    });

  command
    .command('replay-parked')
    .argument('[ids...]', 'parked event ids (see `projections parked`)')
    .option('--all', 'every unresolved parked event')
    .option('--json', 'one JSON document on stdout')
    .description('Apply parked events again (after the fix); each retry is recorded with its outcome')
    .action(async (ids: string[], options: { all?: boolean; json?: boolean }) => {
      if (ids.length === 0 && !options.all) throw new CliError('name parked event ids, or --all', ExitCode.Usage);
      if (ids.some((id) => !/^\d{1,18}$/.test(id))) throw new CliError('parked event ids are numbers', ExitCode.Usage);
      await withPlatform(async ({ platform, services, operator }) => {
        {
          const retries = await services.parkedEventRetries();
          const wanted = options.all
            ? (await platform.pool.query<{ id: string }>('SELECT id FROM parked_events WHERE resolved_at IS NULL ORDER BY id')).rows.map((r) =>
                String(r.id),
              )
            : ids;
          const outcomes = [];
          for (const id of wanted) {
            try {
              outcomes.push(await retries.retry(operator.context(), id));
            } catch (err) {
              if (!(err instanceof DomainError)) throw err;
              outcomes.push({ parkedEventId: id, resolved: false, error: err.message });
            }
          }
          const failed = outcomes.filter((o) => !o.resolved).length;
          if (options.json) output.json({ outcomes, resolved: outcomes.length - failed, failed });
          else for (const o of outcomes) output.line(`${o.parkedEventId}: ${o.resolved ? 'resolved' : `still failing: ${o.error}`}`);
          if (failed > 0) throw new CliError(`${failed} parked event(s) still fail`, ExitCode.Failure);
        }
      });
    });
}
