import { createInterface } from 'node:readline';
import { startFakeSalesforce } from '../test/support/fake-crm/salesforce.ts';

/**
 * The loopback Salesforce in a process of its own, for the CRM bench: what the provider costs (answering
 * pages of tens of thousands of records) is not measured as ours, as a real provider's is not. Steered over
 * stdin/stdout, one JSON request and one JSON answer per line.
 */
const fake = await startFakeSalesforce();

type Request =
  | { op: 'info' }
  | { op: 'seed'; count: number }
  | { op: 'authorize'; url: string }
  | { op: 'edit'; count: number; fields: Record<string, string> }
  | { op: 'count'; field: string; value: string };

async function answer(request: Request): Promise<unknown> {
  switch (request.op) {
    case 'info':
      return { baseUrl: fake.baseUrl, env: fake.env, clientId: fake.clientId, clientSecret: fake.clientSecret };
    case 'seed': {
      // Records made over the past months (one a minute), as a CRM's are: an incremental run's overlap window
      // then holds the recent edits, not every record.
      fake.data.now = Date.now() - request.count * 60_000 - 3_600_000;
      for (let i = 0; i < request.count; i++) {
        fake.data.create({ Email: `lead${i}@import.example`, FirstName: `Lead${i}`, LastName: 'Imported', Phone: `+1555${i}` });
        fake.data.now += 60_000;
      }
      fake.data.now = Date.now();
      return { seeded: request.count };
    }
    case 'authorize':
      return fake.authorize(request.url);
    case 'edit': {
      fake.data.now = Date.now();
      const records = fake.data.live().slice(0, request.count);
      for (const record of records) fake.data.edit(record.externalId, request.fields);
      return { edited: records.length };
    }
    case 'count':
      return { count: fake.data.live().filter((r) => r.fields[request.field] === request.value).length };
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  try {
    process.stdout.write(`${JSON.stringify({ ok: await answer(JSON.parse(line) as Request) })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: (err as Error).message })}\n`);
  }
}
await fake.close();
