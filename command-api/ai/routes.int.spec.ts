import { expect } from 'chai';
import { aiUsageStream } from '../../domain/ai/usage.ts';
import type { CommandContext } from '../../domain/events.ts';
import type { PlanLimits } from '../../domain/plans/plan.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { eventually } from '../../test/support/events.ts';
import { FakeOpenAI } from '../../test/support/fake-openai.ts';
import {
  inviteMember,
  registerAccount,
  startTestSystem,
  startTestSystemOn,
  TEST_OPERATOR_TOKEN,
  uniqueEmail,
  type Account,
  type TestSystem,
} from '../../test/support/http.ts';
import { openServices, type Services } from '../../test/support/services.ts';
import { contactServicesModule } from '../contacts/module.ts';
import { commandCoreModule } from '../module.ts';
import { organizationServicesModule } from '../organizations/module.ts';
import type { OrganizationCommands } from '../organizations/organization-commands.ts';
import { planCommandsModule } from '../plans/module.ts';
import type { PlanCommands } from '../plans/plan-commands.ts';
import type { PersonalDataErasure } from '../privacy/erasure.ts';
import { privacyCommandsModule } from '../privacy/module.ts';
import type { EventStreams } from '../ports.ts';
import { TokenCount } from './token-count.ts';

const staff = (tenantId: string | null): CommandContext => ({
  tenantId,
  actor: { type: 'staff', id: 'staff-1' },
  correlationId: 'test',
  causationId: 'test',
  now: new Date(),
});

const validWorkflow = {
  name: 'Demo follow-up',
  description: 'Thank, wait, follow up.',
  trigger: { type: 'manual' },
  settings: { timezone: 'Europe/Paris', exitOn: ['replied'], exitAction: 'stop', mailbox: 'sales@acme.test' },
  steps: [
    { id: 'thanks', type: 'send_email', config: { subject: 'Thanks, {{contact.firstName}}', body: 'Thanks for your time.' }, next: 'pause' },
    { id: 'pause', type: 'wait', config: { duration: 'P2D' }, next: 'tag' },
    { id: 'tag', type: 'add_tag', config: { tag: 'followed-up' }, next: null },
  ],
};

/** Server-Sent Events of a body: each event's name and parsed data. */
function eventsOf(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') as Record<string, unknown>;
      return { event, data };
    });
}

describe('The AI service over HTTP, the real openai library against loopback providers', function () {
  this.timeout(120_000);
  let primary: FakeOpenAI;
  let fallback: FakeOpenAI;
  let system: TestSystem;
  let staffSide: Services;
  let acme: Account;
  let globex: Account;

  before(async () => {
    primary = await FakeOpenAI.start();
    fallback = await FakeOpenAI.start();
    system = await startTestSystem(undefined, {
      OPENAI_API_KEY: primary.apiKey,
      OPENAI_BASE_URL: primary.baseUrl,
      AI_FALLBACK_API_KEY: fallback.apiKey,
      AI_FALLBACK_BASE_URL: fallback.baseUrl,
      AI_FALLBACK_CHAT_MODEL: 'backup-chat',
      AI_TIMEOUT_MS: '2000',
      AI_COOLDOWN_MS: '1',
    });
    staffSide = openServices(system, [
      commandCoreModule,
      organizationServicesModule,
      planCommandsModule,
      privacyCommandsModule,
      contactServicesModule,
    ]);
    [acme, globex] = await Promise.all([registerAccount(system, 'Acme AI'), registerAccount(system, 'Globex AI')]);
  });
  after(async () => {
    await staffSide?.close();
    await system?.stop();
    await primary?.close();
    await fallback?.close();
  });

  const post = (path: string, body: unknown, account = acme) => system.http.post(path, body, { token: account.accessToken });
  const usageEvents = async (account: Account) => {
    const usage = await system.http.get('/ai/usage', { token: account.accessToken });
    const store = await staffSide.get<EventStreams>(TOKENS.EventStore);
    return (await store.readStream(aiUsageStream(account.organizationId, usage.body.period.start))).map(
      (event) => event.data as Record<string, unknown>,
    );
  };

  async function putOnPlan(account: Account, limits: Partial<PlanLimits>, name: string): Promise<string> {
    const plans = await staffSide.get<PlanCommands>(TOKENS.PlanCommands);
    const organizations = await staffSide.get<OrganizationCommands>(TOKENS.OrganizationCommands);
    const drafted = await plans.draft(staff(null), {
      name,
      monthlyPriceCents: 1_900,
      currency: 'EUR',
      limits: { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null, ...limits },
    });
    await plans.activate(staff(null), drafted.planId);
    await organizations.changePlan(staff(account.organizationId), account.organizationId, drafted.planId);
    return drafted.planId;
  }

  it('completes a prompt with the primary model, labelled with the prompt version, and records the tokens as an event', async () => {
    primary.script('gpt-4o-mini', 'Three subject lines: A, B, C.');
    const reply = await post('/ai/complete', { prompt: 'Subject lines for a demo follow-up' });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body).to.include({
      text: 'Three subject lines: A, B, C.',
      provider: 'openai',
      fellBack: false,
      prompt: 'complete@v1',
      cache: 'off',
    });
    expect(reply.body).not.to.have.property('offline');
    expect(reply.headers.get('x-ai-prompt')).to.equal('complete@v1');
    expect(reply.headers.get('x-ai-cache')).to.equal('off');
    const [answered] = primary.usages.slice(-1);
    expect(reply.body.usage).to.deep.equal({
      promptTokens: answered!.usage.prompt_tokens,
      completionTokens: answered!.usage.completion_tokens,
      totalTokens: answered!.usage.total_tokens,
    });
    const recorded = (await usageEvents(acme)).at(-1)!;
    expect(recorded).to.include({
      organizationId: acme.organizationId,
      tokens: answered!.usage.total_tokens,
      promptTokens: answered!.usage.prompt_tokens,
      completionTokens: answered!.usage.completion_tokens,
      provider: 'openai',
      endpoint: 'complete',
      promptVersion: 'complete@v1',
    });
    expect(recorded.costMicros).to.be.a('number');
    // Operators see it: requests by endpoint and outcome, tokens by kind, the provider call's duration.
    const metrics = await system.http.get('/metrics', { headers: { Authorization: `Bearer ${TEST_OPERATOR_TOKEN}` } });
    expect(metrics.body).to.match(/nexusflow_ai_requests_total\{endpoint="complete",outcome="answered"\} [1-9]/);
    expect(metrics.body).to.match(/nexusflow_ai_tokens_total\{endpoint="complete",provider="openai",kind="completion"\} [1-9]/);
    expect(metrics.body).to.match(/nexusflow_outbound_request_duration_seconds_count\{target="ai",outcome="ok"\} [1-9]/);
  });

  it('falls back when the primary answers 500, and when it times out', async () => {
    primary.failNext(500, 2);
    const failed = await post('/ai/complete', { prompt: 'Hello there' });
    expect(failed.status, JSON.stringify(failed.body)).to.equal(200);
    expect(failed.body).to.include({ provider: 'fallback', fellBack: true, model: 'backup-chat' });

    primary.delayNext(3_000, 2);
    const slow = await post('/ai/complete', { prompt: 'Hello again' });
    expect(slow.status, JSON.stringify(slow.body)).to.equal(200);
    expect(slow.body).to.include({ provider: 'fallback', fellBack: true });
    expect((await usageEvents(acme)).at(-1)).to.include({ provider: 'fallback', model: 'backup-chat' });
  });

  it('answers 503 with Retry-After when no provider can answer, and records nothing', async () => {
    const before = (await usageEvents(acme)).length;
    primary.failNext(503, 2);
    fallback.failNext(503, 2);
    const reply = await post('/ai/complete', { prompt: 'Anyone there?' });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(503);
    expect(reply.body.code).to.equal('ai_unavailable');
    expect(Number(reply.headers.get('retry-after'))).to.be.greaterThan(0);
    expect((await usageEvents(acme)).length).to.equal(before);
  });

  it('streams a completion as Server-Sent Events and records the usage of the stream', async () => {
    primary.script('gpt-4o-mini', 'Streaming works well today.');
    const reply = await system.http.request('POST', '/ai/complete', {
      token: acme.accessToken,
      body: { prompt: 'Say something', stream: true },
    });
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('content-type')).to.match(/text\/event-stream/);
    const events = eventsOf(reply.body as string);
    const text = events
      .filter((e) => e.event === 'delta')
      .map((e) => e.data.text)
      .join('');
    expect(text).to.equal('Streaming works well today.');
    const done = events.find((e) => e.event === 'done')!;
    const streamed = primary.usages.at(-1)!.usage;
    expect(done.data.usage).to.deep.equal({
      promptTokens: streamed.prompt_tokens,
      completionTokens: streamed.completion_tokens,
      totalTokens: streamed.total_tokens,
    });
    const recorded = await eventuallyLast(acme, (event) => event.streamed === true && event.tokens === streamed.total_tokens);
    expect(recorded).to.include({ promptTokens: streamed.prompt_tokens, completionTokens: streamed.completion_tokens, streamed: true });
    expect(recorded).not.to.have.property('estimated');
  });

  it('records an estimated usage for a stream the provider cut before its count', async () => {
    primary.script('gpt-4o-mini', 'One two three four five six seven eight.');
    primary.interruptNextStream(2);
    const reply = await system.http.request('POST', '/ai/complete', { token: acme.accessToken, body: { prompt: 'Count', stream: true } });
    expect(reply.status).to.equal(200);
    const events = eventsOf(reply.body as string);
    expect(events.some((e) => e.event === 'done')).to.equal(false);
    const recorded = await eventuallyLast(acme, (event) => event.estimated === true);
    expect(recorded).to.include({ streamed: true, estimated: true });
    expect(recorded.promptTokens as number).to.be.greaterThan(0);
  });

  async function eventuallyLast(account: Account, predicate: (event: Record<string, unknown>) => boolean) {
    const events = await eventually(
      () => usageEvents(account),
      (list) => list.some(predicate),
      10_000,
    );
    return events.findLast(predicate)!;
  }

  it('refuses a request of more tokens than allowed before any call (413), and lets one of exactly the limit through', async () => {
    const counter = await TokenCount.load();
    const prompt = 'Write about the sea. '.repeat(20);
    // What the service sends: its system message and the prompt; the request takes those plus its answer's cap.
    const sent = await post('/ai/complete', { prompt, maxTokens: 10 });
    expect(sent.status, JSON.stringify(sent.body)).to.equal(200);
    const messages = primary.requests.at(-1)!.body as { messages: { role: 'system' | 'user'; content: string }[] };
    const promptTokens = counter.chat(messages.messages);
    const calls = primary.requests.length;
    const tooLarge = await post('/ai/complete', { prompt, maxTokens: 10_001 - promptTokens });
    expect(tooLarge.status, JSON.stringify(tooLarge.body)).to.equal(413);
    expect(tooLarge.body).to.include({ code: 'request_too_large', tokens: 10_001, limit: 10_000 });
    expect(primary.requests.length).to.equal(calls);
    const atLimit = await post('/ai/complete', { prompt, maxTokens: 10_000 - promptTokens });
    expect(atLimit.status, JSON.stringify(atLimit.body)).to.equal(200);
  });

  it('answers from the cache the second time (no call, no tokens), per organization', async () => {
    primary.script('gpt-4o-mini', JSON.stringify({ sentiment: 'positive', score: 0.8, reasons: ['loved it'] }));
    const first = await post('/ai/analyze/sentiment', { text: 'We loved the demo!' });
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    expect(first.body).to.include({ sentiment: 'positive', score: 0.8, cache: 'miss', prompt: 'analyze-sentiment@v1' });
    const calls = primary.requests.length;
    const recorded = (await usageEvents(acme)).length;
    const again = await post('/ai/analyze/sentiment', { text: '  We loved   the demo!' });
    expect(again.status).to.equal(200);
    expect(again.headers.get('x-ai-cache')).to.equal('hit');
    expect(again.body).to.include({ sentiment: 'positive', cache: 'hit' });
    expect(again.body.usage.totalTokens).to.equal(0);
    expect(primary.requests.length).to.equal(calls);
    expect((await usageEvents(acme)).length).to.equal(recorded);
    // Another organization's identical request is its own miss.
    primary.script('gpt-4o-mini', JSON.stringify({ sentiment: 'positive', score: 0.7, reasons: [] }));
    const other = await post('/ai/analyze/sentiment', { text: 'We loved the demo!' }, globex);
    expect(other.body).to.include({ cache: 'miss', score: 0.7 });
    // Asked not to, it calls.
    primary.script('gpt-4o-mini', JSON.stringify({ sentiment: 'positive', score: 0.9, reasons: [] }));
    const fresh = await post('/ai/analyze/sentiment', { text: 'We loved the demo!', cache: false });
    expect(fresh.body).to.include({ cache: 'off', score: 0.9 });
  });

  it('writes an email for a contact, sending only the fields the prompt names; an erased or foreign contact is not found', async () => {
    const email = uniqueEmail('grace');
    const created = await post('/contacts', { email, firstName: 'Grace', lastName: 'Hopper', company: 'Navy', phone: '+1 555 0100' });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const contactId = created.body.id as string;
    primary.script('gpt-4o-mini', JSON.stringify({ subject: 'Thanks, Grace', body: 'Hi Grace,\n\nThanks for the demo.\n\nBest' }));
    const reply = await post('/ai/generate/email', { instructions: 'Thank them for the demo', contactId, tone: 'warm' });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body).to.include({ subject: 'Thanks, Grace', contactId, prompt: 'generate-email@v1', cache: 'off' });
    const sent = JSON.stringify(primary.requests.at(-1)!.body);
    expect(sent).to.contain('Grace').and.to.contain('Hopper').and.to.contain('Navy');
    expect(sent).not.to.contain(email);
    expect(sent).not.to.contain('555');

    const foreign = await post('/ai/generate/email', { instructions: 'Hello', contactId }, globex);
    expect(foreign.status).to.equal(404);

    const erasure = await staffSide.get<PersonalDataErasure>(TOKENS.PersonalDataErasure);
    expect((await erasure.eraseContact(staff(acme.organizationId), contactId, acme.organizationId)).erased).to.equal(true);
    const calls = primary.requests.length;
    const after = await post('/ai/generate/email', { instructions: 'Hello', contactId });
    expect(after.status).to.equal(404);
    expect(primary.requests.length).to.equal(calls);
  });

  it('generates a workflow that POST /workflows accepts as is, repairing an invalid first answer once', async () => {
    primary.script(
      'gpt-4o-mini',
      JSON.stringify({ ...validWorkflow, steps: [{ id: 'x', type: 'teleport', config: {}, next: null }] }),
      JSON.stringify(validWorkflow),
    );
    const reply = await post('/ai/generate/workflow', { prompt: 'Thank them, wait two days, tag them', mailbox: 'sales@acme.test' });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body).to.include({ repaired: true, prompt: 'generate-workflow@v1' });
    const repairRequest = primary.requests.at(-1)!.body as { messages: { content: string }[] };
    expect(repairRequest.messages.at(-1)!.content).to.contain('steps.0.type');
    const created = await post('/workflows', reply.body.definition);
    expect(created.status, JSON.stringify(created.body)).to.equal(201);

    primary.script('gpt-4o-mini', 'not json', 'still not json');
    const broken = await post('/ai/generate/workflow', { prompt: 'Something', cache: false });
    expect(broken.status).to.equal(502);
    expect(broken.body.code).to.equal('ai_invalid_answer');
  });

  it('suggests workflow steps, dropping the ones the engine would refuse', async () => {
    primary.script(
      'gpt-4o-mini',
      JSON.stringify({
        steps: [
          { type: 'wait', name: 'Pause', config: { duration: 'P3D' }, reason: 'Give them time' },
          { type: 'send_email', name: 'Broken', config: { subject: '' }, reason: 'x' },
          { type: 'add_tag', name: 'Tag', config: { tag: 'warm' }, reason: 'Segment' },
        ],
      }),
    );
    const reply = await post('/ai/suggest/workflow-steps', { goal: 'Book demos', steps: [{ type: 'send_email' }], cache: false });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body.steps.map((s: { type: string }) => s.type)).to.deep.equal(['wait', 'add_tag']);
    expect(reply.body.dropped).to.equal(1);
    const sent = JSON.stringify(primary.requests.at(-1)!.body);
    expect(sent).to.contain('ai_compose_email');
  });

  it('embeds texts and lists the models', async () => {
    const reply = await post('/ai/embed', { input: ['alpha beta', 'gamma'] });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body.vectors).to.have.length(2);
    expect(reply.body.dimensions).to.equal(256);
    expect((primary.requests.at(-1)!.body as { dimensions: number }).dimensions).to.equal(256);
    const models = await system.http.get('/ai/models', { token: acme.accessToken });
    expect(models.status).to.equal(200);
    expect(models.body.aliases.find((a: { alias: string }) => a.alias === 'chat').targets.map((t: { provider: string }) => t.provider)).to.deep.equal(
      ['openai', 'fallback'],
    );
  });

  it('refuses at the monthly allowance (402 at >=), counting exactly what was recorded', async () => {
    const account = await registerAccount(system, 'Allowance Co');
    primary.script('gpt-4o-mini', { content: 'ok', promptTokens: 60, completionTokens: 40 });
    const planId = await putOnPlan(account, { aiTokensPerMonth: 200 }, 'AI 200');
    const first = await post('/ai/complete', { prompt: 'one', cache: false }, account);
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    primary.script('gpt-4o-mini', { content: 'ok', promptTokens: 60, completionTokens: 40 });
    const second = await post('/ai/complete', { prompt: 'two' }, account);
    expect(second.status, JSON.stringify(second.body)).to.equal(200);
    // 200 used of 200: at the allowance, refused.
    const calls = primary.requests.length;
    const third = await post('/ai/complete', { prompt: 'three' }, account);
    expect(third.status, JSON.stringify(third.body)).to.equal(402);
    expect(third.body).to.include({ code: 'plan_limit_reached', limit: 'aiTokensPerMonth', allowed: 200, usage: 200, upgrade: '/billing/plans' });
    expect(third.body.plan).to.deep.equal({ id: planId, name: 'AI 200' });
    expect(primary.requests.length).to.equal(calls);
    const usage = await system.http.get('/ai/usage', { token: account.accessToken });
    expect(usage.body).to.include({ used: 200, allowance: 200, remaining: 0 });
  });

  it('refuses every AI request of an organization that turned AI off (403 ai_disabled)', async () => {
    const account = await registerAccount(system, 'No AI Co');
    const off = await system.http.request('PUT', '/organizations/current/ai', { token: account.accessToken, body: { enabled: false } });
    expect(off.status, JSON.stringify(off.body)).to.equal(200);
    const calls = primary.requests.length;
    for (const [path, body] of [
      ['/ai/complete', { prompt: 'hi' }],
      ['/ai/embed', { input: 'hi' }],
      ['/ai/analyze/sentiment', { text: 'hi' }],
      ['/ai/generate/email', { instructions: 'hi' }],
      ['/ai/generate/workflow', { prompt: 'hi' }],
      ['/ai/suggest/workflow-steps', { goal: 'hi' }],
      ['/ai/search', { query: 'hi' }],
    ] as const) {
      const reply = await post(path, body, account);
      expect(reply.status, path).to.equal(403);
      expect(reply.body.code, path).to.equal('ai_disabled');
    }
    expect(primary.requests.length).to.equal(calls);
  });

  it('names the field of a bad request (400), and keeps viewers out (403)', async () => {
    const bad = await post('/ai/complete', { prompt: 'x', messages: [{ role: 'user', content: 'y' }] });
    expect(bad.status).to.equal(400);
    expect(bad.body['invalid-params'].map((p: { name: string }) => p.name)).to.include('prompt');
    const badRole = await post('/ai/complete', { messages: [{ role: 'robot', content: 'y' }] });
    expect(badRole.status).to.equal(400);
    expect(badRole.body['invalid-params'][0].name).to.equal('messages.0.role');
    const viewer = await inviteMember(system, acme, 'viewer');
    const calls = primary.requests.length;
    const refused = await post('/ai/complete', { prompt: 'hi' }, viewer);
    expect(refused.status).to.equal(403);
    expect(primary.requests.length).to.equal(calls);
  });

  it("runs the ai_compose_email step through the service: the model writes the email, the usage is the organization's", async () => {
    const account = await registerAccount(system, 'Workflow AI Co');
    const email = uniqueEmail('ada');
    const contact = await post('/contacts', { email, firstName: 'Ada', company: 'Engines Ltd' }, account);
    const workflow = await post(
      '/workflows',
      {
        name: 'AI intro',
        settings: { mailbox: 'sales@acme.test' },
        steps: [{ id: 'write', type: 'ai_compose_email', config: { instructions: 'Introduce our analytics product' }, next: null }],
      },
      account,
    );
    expect(workflow.status, JSON.stringify(workflow.body)).to.equal(201);
    primary.script('gpt-4o-mini', JSON.stringify({ subject: 'Analytics for Engines Ltd', body: 'Hi Ada,\n\nA short intro.\n\nBest' }));
    const run = await post(`/workflows/${workflow.body.id}/run`, { contactId: contact.body.id }, account);
    expect(run.status, JSON.stringify(run.body)).to.be.oneOf([201, 202]);
    const sent = await system.mailbox.latest(email, 'workflow');
    expect(sent.subject).to.equal('Analytics for Engines Ltd');
    const request = JSON.stringify(primary.requests.findLast((r) => JSON.stringify(r.body).includes('Introduce our analytics'))!.body);
    expect(request).to.contain('Ada').and.to.contain('Engines Ltd');
    expect(request).not.to.contain(email);
    const recorded = await eventuallyLast(account, (event) => event.endpoint === 'workflow/ai_compose_email');
    expect(recorded).to.include({ organizationId: account.organizationId, promptVersion: 'generate-email@v1', provider: 'openai' });
    // The email sent is embedded by its subject, and found among the organization's sent emails.
    const found = await eventually(
      () => post('/ai/search', { query: 'analytics for engines', kind: 'email', coverage: true }, account),
      (answer) => answer.status !== 200 || answer.body.coverage.embedded >= 1,
      20_000,
    );
    expect(found.status, JSON.stringify(found.body)).to.equal(200);
    expect(found.body.matches).to.have.length(1);
    expect(found.body.matches[0]).to.include({ kind: 'email', href: null });
  });

  it("searches the organization's contacts by meaning, embedded by the projection and the embedder; never another tenant's", async () => {
    const account = await registerAccount(system, 'Search Co');
    const people = [
      { firstName: 'Lena', lastName: 'Berg', title: 'Head of Logistics', company: 'Freight Partners' },
      { firstName: 'Omar', lastName: 'Haddad', title: 'Chief Financial Officer', company: 'Ledger Bank' },
      { firstName: 'Ines', lastName: 'Costa', title: 'Logistics Manager', company: 'Freight Hub' },
    ];
    const ids: string[] = [];
    for (const person of people) {
      const created = await post('/contacts', { email: uniqueEmail(person.firstName), ...person }, account);
      ids.push(created.body.id as string);
    }
    // The same kind of person in another organization: never found from this one.
    await post('/contacts', { email: uniqueEmail('rival'), firstName: 'Rita', title: 'Head of Logistics', company: 'Freight Partners' }, globex);
    const reply = await eventually(
      () => post('/ai/search', { query: 'logistics freight', limit: 5, coverage: true }, account),
      (answer) => answer.status !== 200 || answer.body.coverage.embedded >= 3,
      20_000,
    );
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expect(reply.body.coverage).to.deep.equal({ items: 3, embedded: 3 });
    expect(reply.body.engine).to.be.oneOf(['pgvector', 'scan']);
    const found = reply.body.matches.map((m: { id: string }) => m.id);
    expect(found).to.have.length(3);
    expect(found.slice(0, 2)).to.have.members([ids[0], ids[2]]);
    expect(reply.body.matches[0].href).to.equal(`/contacts/${found[0]}`);
    // The embedding texts sent: names, titles, companies, tags; never an email address.
    const embedded = primary.requests
      .filter((r) => r.path.endsWith('/embeddings'))
      .map((r) => JSON.stringify(r.body))
      .join('\n');
    expect(embedded).to.contain('Head of Logistics');
    expect(embedded).not.to.match(/@/);
    const recorded = await eventuallyLast(account, (event) => event.endpoint === 'index/embeddings');
    expect(recorded.tokens as number).to.be.greaterThan(0);
  });

  it('refuses the 101st request in a minute, also when the 100 came through two processes', async () => {
    const account = await registerAccount(system, 'Busy Co');
    const second = await startTestSystemOn(
      system.database.url,
      {
        OPENAI_API_KEY: primary.apiKey,
        OPENAI_BASE_URL: primary.baseUrl,
        REDIS_KEY_PREFIX: `nf-test-${system.database.name}:`,
      },
      { commands: true, queries: false, projectors: false },
    );
    try {
      // Not across a window boundary: the limit is a sliding window of whole minutes.
      while (Date.now() % 60_000 > 40_000) await new Promise((resolve) => setTimeout(resolve, 250));
      primary.respond(() => JSON.stringify({ sentiment: 'neutral', score: 0, reasons: [] }));
      for (let i = 0; i < 100; i++) {
        const via = i % 2 === 0 ? system : second;
        const reply = await via.http.post('/ai/analyze/sentiment', { text: `note ${i}` }, { token: account.accessToken });
        expect(reply.status, `request ${i + 1}: ${JSON.stringify(reply.body)}`).to.equal(200);
      }
      const refused = await post('/ai/analyze/sentiment', { text: 'one more' }, account);
      expect(refused.status).to.equal(429);
      expect(refused.body.code).to.equal('ai_rate_limited');
      expect(Number(refused.headers.get('retry-after'))).to.be.greaterThan(0);
      const refusedThere = await second.http.post('/ai/analyze/sentiment', { text: 'one more' }, { token: account.accessToken });
      expect(refusedThere.status).to.equal(429);
      // Another organization is not held back.
      const other = await post('/ai/analyze/sentiment', { text: 'fine' }, globex);
      expect(other.status).to.equal(200);
      // Nor are its workflows' AI steps: their sends are paced by the mailbox's throttles, not by this limit.
      const email = uniqueEmail('paced');
      const contact = await post('/contacts', { email, firstName: 'Pat' }, account);
      const workflow = await post(
        '/workflows',
        { name: 'AI at the limit', steps: [{ id: 'write', type: 'ai_compose_email', config: { instructions: 'Say hello' }, next: null }] },
        account,
      );
      primary.respond(() => JSON.stringify({ subject: 'Hello Pat', body: 'Hi Pat,\n\nHello.\n\nBest' }));
      const run = await post(`/workflows/${workflow.body.id}/run`, { contactId: contact.body.id }, account);
      expect(run.status, JSON.stringify(run.body)).to.be.oneOf([201, 202]);
      expect((await system.mailbox.latest(email, 'workflow')).subject).to.equal('Hello Pat');
    } finally {
      primary.respond(null);
      await second.stop();
    }
  });
});
