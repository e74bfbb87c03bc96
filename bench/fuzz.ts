import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createContactExample } from '../command-api/contacts/schemas.ts';
import { exampleWorkflow } from '../command-api/workflows/example.ts';
import { workflowFreeText } from '../command-api/workflows/schemas.ts';
import { FreeTextFields, textProblemsIn } from '../infra/http/text-rule.ts';
import { fuzz, prepareTenant } from '../test/fuzz/fuzz-session.ts';
import { startTestSystemOn } from '../test/support/http.ts';
import { note, report } from './stats.ts';

/**
 * The fuzz suite's pace (the CI suite runs the same engine: test/e2e/api-fuzz.e2e.spec.ts), the server in
 * this process as in the suite; and what the text rule costs per request, measured on its own (an HTTP run's
 * noise is larger than the rule).
 */
export async function benchFuzz(databaseUrl: string, requests: number): Promise<void> {
  const contactBody = { ...createContactExample, email: 'ada@example.com' };
  const workflowRule = new FreeTextFields(workflowFreeText);
  for (const [name, body, rule] of [
    ['create_contact', contactBody, undefined],
    ['create_workflow', exampleWorkflow, workflowRule],
  ] as const) {
    for (let i = 0; i < 20_000; i++) textProblemsIn(body, rule); // warm-up
    const runs = 200_000;
    const started = performance.now();
    for (let i = 0; i < runs; i++) textProblemsIn(body, rule);
    report(`http.text_rule.${name}`, ((performance.now() - started) * 1000) / runs, 'µs per request', 'within the noise of http.create_contact');
  }

  const system = await startTestSystemOn(databaseUrl);
  try {
    const log = system.process.platform.eventStore;
    const target = { http: system.http, mailbox: system.mailbox, readLog: (after: string | null) => log.readAll({ after, maxCount: 1_000 }) };
    const tenant = await prepareTenant(target);
    const seed = randomInt(2 ** 31);
    const result = await fuzz(target, tenant, { seed, count: requests, concurrency: 4 });
    note(`fuzz (seed ${seed}): ${result.requests} requests, server in the bench's process, 4 at a time; answers ${JSON.stringify(result.statuses)}`);
    report('fuzz.requests_per_second', result.requests / result.seconds, 'requests/s', '10,000 requests in CI within a few minutes');
    if (result.failures.length > 0) note(`fuzz found ${result.failures.length} broken answers, e.g. ${result.failures[0]}`);
  } finally {
    await system.stop();
  }
}
