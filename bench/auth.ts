import { Pool } from 'undici';
import { closedLoop, note, report } from './stats.ts';
import { json, ServerProcess, signUp } from './http.ts';

/** One request whose status is expected (the overhead probes are answered 400 on purpose). */
async function expectStatus(pool: Pool, path: string, status: number, headers: Record<string, string>, body: string): Promise<void> {
  const response = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.body.text();
  if (response.statusCode !== status) throw new Error(`POST ${path} answered ${response.statusCode}, expected ${status}: ${text.slice(0, 200)}`);
}

/**
 * Sign-in throughput at the production scrypt cost, and what authentication adds to a request.
 *
 * The overhead probes go through the whole gateway of the command API process and stop at validation (an
 * empty body is a 400), so they do no database work of their own: POST /auth/login {} is the unauthenticated
 * path (per-IP limit, body, validation); POST /contacts {} with a credential adds authentication (access token:
 * signature check, cached; revocation marks in Redis), the permission check, the organization's rate limit and
 * the suspension check. The difference is the cost of being authenticated.
 */
export async function benchAuth(databaseUrl: string, durationMs: number): Promise<void> {
  const server = await ServerProcess.start('command-api/main.ts', {
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'bench-'.repeat(8),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    // The production default (2^15, 32 MiB per hash): the figure a deployment gets.
    PASSWORD_HASH_COST: '15',
    LOGIN_MAX_FAILURES: '100',
  });
  const pool = new Pool(server.origin, { connections: 16, pipelining: 1 });
  try {
    const account = await signUp(pool);
    const key = (await json(pool, 'POST', '/api-keys', account.accessToken, { name: 'bench' })).key as string;
    const loginBody = JSON.stringify({ email: account.email, password: account.password });

    const concurrency = 4;
    const cpuBefore = await server.cpuSeconds();
    const logins = await closedLoop({
      concurrency,
      durationMs,
      warmupMs: 1_000,
      operation: () => expectStatus(pool, '/auth/login', 200, {}, loginBody),
    });
    if (logins.errors) throw new Error(`login failed ${logins.errors} times: ${String(logins.firstError)}`);
    note(`POST /auth/login at the production scrypt cost (N = 2^15, r 8, p 1), ${concurrency} concurrent clients, command API in its own process`);
    report('auth.login', logins.perSecond, 'logins/s');
    report('auth.login.p50', logins.latencies.percentile(50), 'ms');
    report('auth.login.p99', logins.latencies.percentile(99), 'ms');
    report('auth.login.server_cpu', (((await server.cpuSeconds()) - cpuBefore) / ((durationMs + 1_000) / 1000)) * 100, '% of one core');

    const probes = {
      unauthenticated: () => expectStatus(pool, '/auth/login', 400, {}, '{}'),
      access_token: () => expectStatus(pool, '/contacts', 400, { authorization: `Bearer ${account.accessToken}` }, '{}'),
      api_key: () => expectStatus(pool, '/contacts', 400, { authorization: `Bearer ${key}` }, '{}'),
    };
    // Interleaved rounds, medians: the machine's other work drifts, and would otherwise land on one probe.
    const rounds = 3;
    const samples: Record<string, { cpuMicros: number[]; p50: number[]; perSecond: number[] }> = {};
    for (let round = 0; round < rounds; round++) {
      for (const [name, operation] of Object.entries(probes)) {
        const before = await server.cpuSeconds();
        const roundMs = Math.max(1_000, Math.round(durationMs / rounds));
        const result = await closedLoop({ concurrency: 16, durationMs: roundMs, warmupMs: 500, operation });
        if (result.errors) throw new Error(`${name} probe failed ${result.errors} times: ${String(result.firstError)}`);
        const requests = result.perSecond * ((roundMs + 500) / 1000);
        const sample = (samples[name] ??= { cpuMicros: [], p50: [], perSecond: [] });
        sample.cpuMicros.push((((await server.cpuSeconds()) - before) / requests) * 1e6);
        sample.p50.push(result.latencies.percentile(50));
        sample.perSecond.push(result.perSecond);
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const figures = Object.fromEntries(
      Object.entries(samples).map(([name, s]) => [name, { cpuMicros: median(s.cpuMicros), p50: median(s.p50), perSecond: median(s.perSecond) }]),
    );
    note(
      `gateway path to validation (400) at 16 concurrent clients, ${rounds} interleaved rounds (medians): unauthenticated vs access token vs API key`,
    );
    for (const [name, figure] of Object.entries(figures)) {
      report(`auth.request.${name}`, figure.perSecond, 'requests/s');
      report(`auth.request.${name}.p50`, figure.p50, 'ms');
      report(`auth.request.${name}.server_cpu_per_request`, figure.cpuMicros, 'µs');
    }
    const base = figures.unauthenticated!;
    for (const name of ['access_token', 'api_key']) {
      const figure = figures[name]!;
      report(`auth.overhead.${name}.server_cpu_per_request`, figure.cpuMicros - base.cpuMicros, 'µs');
      report(`auth.overhead.${name}.p50`, (figure.p50 - base.p50) * 1000, 'µs');
    }
  } finally {
    await pool.close();
    await server.stop();
  }
}
