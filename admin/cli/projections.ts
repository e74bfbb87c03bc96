import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { RebuildInProgressError, type RebuildProgress } from '../../projectors/rebuild/rebuild.ts';
import { GenerationConflictError } from '../../infra/readmodels/generations.ts';
import { projectionStatuses } from '../../infra/readmodels/projection-status.ts';
import { rebuilding } from '../../infra/readmodels/rebuilding.ts';
import { CliError, ExitCode, withPlatform, type Output } from './support.ts';

/** `nexusflow projections …`: where each projection is, and rebuilds of the search and analytics read models. */
export function projectionCommands(program: Command, output: Output): void {
  const command = program.command('projections').description('Projections and the read models they build');

  command
    .command('list')
    .description('Every projection: its position in the log, how far behind the head it is, its parked events')
    .option('--json', 'one JSON document on stdout')
    .action(async (options: { json?: boolean }) => {
      await withPlatform(async ({ platform }) => {
        const { head, projections: list } = await projectionStatuses(platform);
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
      await withPlatform(async ({ platform, config, logger }) => {
        const tools = rebuilding(platform, config, logger);
        try {
          const model = tools.readModels.find((m) => m.name === name);
          if (!model) {
            throw new CliError(`unknown read model "${name}": choose one of ${tools.readModels.map((m) => m.name).join(', ')}`, ExitCode.Usage);
          }
          const bar = options.json || !process.stderr.isTTY ? null : new SingleBar({
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
              output.line(`${name} → generation ${payload.generation}: ${progress.fraction === null ? '' : `${Math.floor(progress.fraction * 100)}% `}${payload.events} events, ${payload.rate} events/s, ${payload.phase}`);
            }
          };
          try {
            const result = await tools.rebuilder.rebuild(model, { onProgress });
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
        } finally {
          tools.close();
        }
      });
    });
}
