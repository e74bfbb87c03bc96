/**
 * `npm run bench:ab -- <checkout A> <checkout B>`: server CPU per created contact of two builds, told apart
 * from this machine's drift. Single bench runs of one build here range over ±25 % within the hour, more than
 * most changes move: both command APIs run at once (each on its own fresh database, migrated by its own
 * checkout), and are measured in turn in short windows, alternating which goes first, so that the drift falls
 * on both alike. Prints each build's CPU per command (median and every window) and B's ratio to A per round.
 *
 * Each checkout needs its node_modules (a worktree can link this one's). Options: --rounds 10 --window 2.5
 * (seconds) --warmup 3 (seconds, each server before the first round).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Pool } from 'undici';
import { ServerProcess, json, signUp } from './http.ts';
import { closedLoop } from './stats.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '10' }, window: { type: 'string', default: '2.5' }, warmup: { type: 'string', default: '3' } },
});
if (positionals.length !== 2) throw new Error('usage: npm run bench:ab -- <checkout A> <checkout B> [--rounds 10] [--window 2.5]');
const rounds = Number(values.rounds);
const windowMs = Number(values.window) * 1000;
const admin = new pg.Client({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect();

interface Side {
  checkout: string;
  database: string;
  server: ServerProcess;
  pool: Pool;
  token: string;
  cpuPerCommand: number[];
}

const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const sides: Side[] = [];
try {
  for (const checkout of positionals) {
    const database = `nf_bench_ab_${Date.now()}_${sides.length}`;
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    url.pathname = `/${database}`;
    const server = await ServerProcess.start(
      'command-api/main.ts',
      {
        DATABASE_URL: url.toString(),
        JWT_SECRET: 'bench-'.repeat(8),
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_KEY_PREFIX: `nf-bench-ab-${randomUUID()}:`,
        PASSWORD_HASH_COST: '12',
      },
      { cwd: checkout },
    );
    const pool = new Pool(server.origin, { connections: 32, pipelining: 1 });
    sides.push({ checkout, database, server, pool, token: (await signUp(pool)).accessToken, cpuPerCommand: [] });
  }
  const create = (side: Side) => async () => {
    await json(side.pool, 'POST', '/contacts', side.token, { email: `${randomUUID()}@bench.example`, firstName: 'Grace', lastName: 'Hopper' });
  };
  for (const side of sides) await closedLoop({ concurrency: 32, durationMs: Number(values.warmup) * 1000, warmupMs: 500, operation: create(side) });
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      let before = 0;
      let after = 0;
      const result = await closedLoop({
        concurrency: 32,
        durationMs: windowMs,
        warmupMs: 300,
        onMeasureStart: async () => {
          before = await side.server.cpuSeconds();
        },
        onMeasureEnd: async () => {
          after = await side.server.cpuSeconds();
        },
        operation: create(side),
      });
      if (result.errors) throw new Error(`${side.checkout}: ${result.errors} failed creations: ${String(result.firstError)}`);
      side.cpuPerCommand.push(((after - before) * 1000) / result.done);
    }
  }
  for (const side of sides) {
    const windows = side.cpuPerCommand.map((ms) => ms.toFixed(3)).join(' ');
    console.log(`ab.cpu_per_command ${side.checkout}: median ${median(side.cpuPerCommand).toFixed(3)} ms [${windows}]`);
  }
  const ratios = sides[1]!.cpuPerCommand.map((ms, i) => ms / sides[0]!.cpuPerCommand[i]!);
  console.log(`ab.ratio B/A: median ${median(ratios).toFixed(3)} [${ratios.map((r) => r.toFixed(2)).join(' ')}]`);
} finally {
  for (const side of sides) {
    await side.pool.close();
    await side.server.stop();
  }
  for (const side of sides) await admin.query(`DROP DATABASE IF EXISTS ${side.database} WITH (FORCE)`);
  await admin.end();
}
