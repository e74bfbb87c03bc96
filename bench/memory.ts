import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { json, ServerProcess, signUp } from './http.ts';
import { mib, note, report } from './stats.ts';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The all-in-one process as `npm start` runs it (compiled, embedded database, no servers), its resident
 * memory once settled: after its first start (the data directory made), after a restart on that data, and
 * after some work (sign-ups, contacts, a workflow run, search) — then idle again.
 */
export async function benchMemory(contacts: number): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'nf-bench-embedded-'));
  const env = { NEXUSFLOW_DATA_DIR: dataDir, PASSWORD_HASH_COST: '12' };
  try {
    let server = await ServerProcess.start('main.ts', env, { compiled: true });
    await wait(10_000);
    report('memory.all_in_one.first_start', mib(await server.rss()), 'MiB', '≤ 400 steady');
    await server.stop();
    server = await ServerProcess.start('main.ts', env, { compiled: true });
    try {
      await wait(10_000);
      report('memory.all_in_one.restarted', mib(await server.rss()), 'MiB', '≤ 400 steady');
      const pool = new Pool(server.origin, { connections: 8 });
      const { accessToken } = await signUp(pool);
      for (let done = 0; done < contacts; done += 8) {
        await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            json(pool, 'POST', '/contacts', accessToken, { email: `m${done + i}@bench.example`, firstName: 'Mem', tags: ['bench'] }),
          ),
        );
      }
      await json(pool, 'GET', '/search/contacts?q=mem', accessToken);
      await pool.close();
      report('memory.all_in_one.after_work', mib(await server.rss()), 'MiB');
      await wait(15_000);
      report('memory.all_in_one.steady', mib(await server.rss()), 'MiB', '≤ 400');
      report('memory.all_in_one.peak', mib(await server.peakRss()), 'MiB');
      note(`${contacts} contacts created through the API, then 15 s idle; the staff console is loaded on its first request only`);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
