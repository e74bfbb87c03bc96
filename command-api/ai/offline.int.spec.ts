import { expect } from 'chai';
import { eventually } from '../../test/support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../../test/support/http.ts';

/** No provider key (the embedded default's mode): every endpoint answers, by rule, and says so. */
describe('The AI service offline (no OPENAI_API_KEY)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let acme: Account;
  let globex: Account;

  before(async () => {
    system = await startTestSystem();
    [acme, globex] = await Promise.all([registerAccount(system, 'Offline Acme'), registerAccount(system, 'Offline Globex')]);
  });
  after(async () => {
    await system?.stop();
  });

  const post = (path: string, body: unknown, account = acme) => system.http.post(path, body, { token: account.accessToken });

  function expectOffline(body: Record<string, unknown>) {
    expect(body.provider).to.equal('offline');
    expect((body.offline as { note: string }).note).to.contain('OPENAI_API_KEY');
    expect(body.usage).to.deep.equal({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  }

  it('answers every endpoint, labelled offline, without pretending to be a model', async () => {
    const complete = await post('/ai/complete', { prompt: 'Write three subject lines' });
    expect(complete.status, JSON.stringify(complete.body)).to.equal(200);
    expectOffline(complete.body);
    expect(complete.body.text).to.match(/^\[offline\]/);

    const sentiment = await post('/ai/analyze/sentiment', { text: "I don't like this at all, it is terrible" });
    expect(sentiment.status).to.equal(200);
    expectOffline(sentiment.body);
    expect(sentiment.body.sentiment).to.equal('negative');

    const email = await post('/ai/generate/email', { instructions: 'Thank them for their time.' });
    expect(email.status).to.equal(200);
    expectOffline(email.body);
    expect(email.body.body).to.contain('Thank them for their time.');

    const suggestions = await post('/ai/suggest/workflow-steps', { goal: 'Qualify leads and tag them', steps: [{ type: 'send_email' }] });
    expect(suggestions.status).to.equal(200);
    expectOffline(suggestions.body);
    expect(suggestions.body.steps[0].type).to.equal('wait');

    const embedded = await post('/ai/embed', { input: 'logistics' });
    expect(embedded.status).to.equal(200);
    expectOffline(embedded.body);
    expect(embedded.body.vectors[0]).to.have.length(256);

    const models = await system.http.get('/ai/models', { token: acme.accessToken });
    expect(models.body.offline.note).to.contain('OPENAI_API_KEY');
  });

  it('turns a sentence into a workflow that POST /workflows accepts as is', async () => {
    const reply = await post('/ai/generate/workflow', {
      prompt: 'Send a welcome email, wait 3 days, then write a personal follow-up and tag them as nurtured',
      mailbox: 'sales@acme.test',
    });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expectOffline(reply.body);
    const types = reply.body.definition.steps.map((step: { type: string }) => step.type);
    expect(types).to.deep.equal(['send_email', 'wait', 'ai_compose_email', 'add_tag']);
    const created = await post('/workflows', reply.body.definition);
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
  });

  it('searches contacts with feature-hashed embeddings, within the organization', async () => {
    const lena = await post('/contacts', { email: uniqueEmail('lena'), firstName: 'Lena', title: 'Head of Logistics', company: 'Freight Partners' });
    await post('/contacts', { email: uniqueEmail('omar'), firstName: 'Omar', title: 'Chief Financial Officer', company: 'Ledger Bank' });
    await post('/contacts', { email: uniqueEmail('rita'), firstName: 'Rita', title: 'Head of Logistics', company: 'Freight Partners' }, globex);
    const reply = await eventually(
      () => post('/ai/search', { query: 'head of logistics', limit: 5, coverage: true }),
      (answer) => answer.status !== 200 || answer.body.coverage.embedded >= 2,
      20_000,
    );
    expect(reply.status, JSON.stringify(reply.body)).to.equal(200);
    expectOffline(reply.body);
    expect(reply.body.matches).to.have.length(2);
    expect(reply.body.matches[0].id).to.equal(lena.body.id);
  });
});
