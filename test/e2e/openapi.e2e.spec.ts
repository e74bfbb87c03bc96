import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { expect } from 'chai';
import { Mailbox, registerAccount, startTestSystem, uniqueEmail, type HttpClient, type Reply, type TestSystem } from '../support/http.ts';
import { totpCode } from '../support/totp.ts';

type OpenApi = {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>>;
  components: { schemas: Record<string, object> };
};

/**
 * "Works as documented": every answer of the Auth Service's flows has a status its operation documents, and a
 * body that validates against the schema /openapi.json gives for that status.
 */
describe('The Auth Service works as /openapi.json documents it (real PostgreSQL and Redis)', function () {
  this.timeout(60_000);
  let system: TestSystem;
  let http: HttpClient;
  let spec: OpenApi;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  const checked: string[] = [];

  before(async () => {
    system = await startTestSystem();
    http = system.http;
    spec = (await http.get('/openapi.json')).body as OpenApi;
  });
  after(async () => system?.stop());

  function asDocumented(method: string, path: string, reply: Reply): Reply {
    const operation = spec.paths[path]?.[method.toLowerCase()];
    expect(operation, `${method} ${path} is in /openapi.json`).not.to.equal(undefined);
    const response = operation!.responses[String(reply.status)];
    expect(response, `${method} ${path} documents status ${reply.status} (${JSON.stringify(reply.body).slice(0, 200)})`).not.to.equal(undefined);
    if (reply.status === 204) {
      expect(reply.body).to.equal('');
    } else {
      const [type, content] = Object.entries(response!.content ?? {})[0] ?? [];
      expect(type, `${method} ${path} ${reply.status} documents its body`).to.be.a('string');
      expect(reply.contentType.startsWith(type!), `content type ${reply.contentType} is ${type}`).to.equal(true);
      const schema = reply.status >= 400 ? spec.components.schemas.Problem! : content!.schema;
      const validate = ajv.compile(schema);
      expect(
        validate(reply.body),
        `${method} ${path} ${reply.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(reply.body).slice(0, 300)}`,
      ).to.equal(true);
    }
    checked.push(`${method} ${path} ${reply.status}`);
    return reply;
  }

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(spec as never);
    expect(result.valid, JSON.stringify(result.errors)?.slice(0, 2_000)).to.equal(true);
  });

  it('answers every step of sign-up, sign-in, refresh, MFA, reset and sign-out as documented', async () => {
    const email = uniqueEmail('documented');
    const password = 'correct horse battery staple';
    const check = (method: string, path: string, reply: Reply) => asDocumented(method, path, reply);

    check('POST', '/auth/register', await http.post('/auth/register', { organizationName: 'Docs', name: 'Doc', email, password }));
    check('POST', '/auth/register', await http.post('/auth/register', { email: 'nope' }));
    const token = Mailbox.tokenIn(await system.mailbox.latest(email, 'signup-confirmation'));
    const signedUp = check('POST', '/auth/verify-email', await http.post('/auth/verify-email', { token })).body;
    check('POST', '/auth/verify-email', await http.post('/auth/verify-email', { token }));
    check('GET', '/auth/me', await http.get('/auth/me', { token: signedUp.accessToken, headers: { 'X-Min-Position': signedUp.position } }));
    check('GET', '/auth/me', await http.get('/auth/me'));

    const login = check('POST', '/auth/login', await http.post('/auth/login', { email, password })).body;
    check('POST', '/auth/login', await http.post('/auth/login', { email, password: 'wrong password' }));
    const refreshed = check('POST', '/auth/refresh', await http.post('/auth/refresh', { refreshToken: login.refreshToken })).body;
    const spare = (await http.post('/auth/login', { email, password })).body;
    await http.post('/auth/refresh', { refreshToken: spare.refreshToken });
    check('POST', '/auth/refresh', await http.post('/auth/refresh', { refreshToken: spare.refreshToken }));

    const pending = check('POST', '/auth/mfa/enable', await http.post('/auth/mfa/enable', {}, { token: refreshed.accessToken })).body;
    expect(pending.status).to.equal('pending');
    check('POST', '/auth/mfa/enable', await http.post('/auth/mfa/enable', { code: totpCode(pending.secret) }, { token: refreshed.accessToken }));
    const challenge = check('POST', '/auth/login', await http.post('/auth/login', { email, password })).body;
    expect(challenge.mfaRequired).to.equal(true);
    const verified = check(
      'POST',
      '/auth/mfa/verify',
      await http.post('/auth/mfa/verify', { challengeToken: challenge.challengeToken, code: totpCode(pending.secret, Date.now() + 30_000) }),
    ).body;
    check('POST', '/auth/mfa/verify', await http.post('/auth/mfa/verify', { challengeToken: challenge.challengeToken, code: '000000' }));

    check('POST', '/auth/forgot-password', await http.post('/auth/forgot-password', { email }));
    const reset = Mailbox.tokenIn(await system.mailbox.latest(email, 'password-reset'));
    check('POST', '/auth/reset-password', await http.post('/auth/reset-password', { token: reset, password: 'another good password' }));
    check('POST', '/auth/reset-password', await http.post('/auth/reset-password', { token: reset, password: 'another good password' }));
    check('GET', '/auth/me', await http.get('/auth/me', { token: verified.accessToken }));

    const other = await registerAccount(system, 'Docs too');
    check(
      'POST',
      '/auth/change-password',
      await http.post('/auth/change-password', { currentPassword: other.password, newPassword: 'a better password' }, { token: other.accessToken }),
    );
    const fresh = (await http.post('/auth/login', { email: other.email, password: 'a better password' })).body;
    check('POST', '/auth/logout', await http.post('/auth/logout', undefined, { token: fresh.accessToken }));
    check('POST', '/auth/logout', await http.post('/auth/logout', undefined, { token: fresh.accessToken }));

    expect(checked).to.include.members([
      'POST /auth/register 202',
      'POST /auth/verify-email 201',
      'POST /auth/login 200',
      'POST /auth/logout 204',
      'POST /auth/refresh 200',
      'POST /auth/forgot-password 202',
      'POST /auth/reset-password 204',
      'GET /auth/me 200',
      'POST /auth/mfa/enable 200',
      'POST /auth/mfa/verify 200',
    ]);
  });

  it('answers members, API keys and contacts as documented', async () => {
    const owner = await registerAccount(system, 'Docs team');
    const token = owner.accessToken;
    const invited = asDocumented(
      'POST',
      '/invitations',
      await http.post('/invitations', { email: uniqueEmail('doc-invitee'), role: 'member' }, { token }),
    ).body;
    asDocumented('GET', '/invitations', await http.get('/invitations', { token, headers: { 'X-Min-Position': invited.position } }));
    asDocumented('GET', '/users', await http.get('/users', { token, headers: { 'X-Min-Position': owner.position } }));
    asDocumented('GET', '/users/{id}', await http.get(`/users/${owner.userId}`, { token }));
    asDocumented('PUT', '/users/{id}/role', await http.put(`/users/${owner.userId}/role`, { role: 'viewer' }, { token }));
    const key = asDocumented('POST', '/api-keys', await http.post('/api-keys', { name: 'docs' }, { token })).body;
    asDocumented('GET', '/api-keys', await http.get('/api-keys', { token, headers: { 'X-Min-Position': key.position } }));
    asDocumented('GET', '/api-keys/{id}', await http.get(`/api-keys/${key.id}`, { token }));
    asDocumented('POST', '/contacts', await http.post('/contacts', { email: uniqueEmail('doc-contact') }, { token: key.key }));
    asDocumented('GET', '/contacts', await http.get('/contacts', { token: key.key }));
    asDocumented('DELETE', '/api-keys/{id}', await http.delete(`/api-keys/${key.id}`, { token }));
    asDocumented('GET', '/organizations/current', await http.get('/organizations/current', { token }));
  });

  it('answers search and analytics as documented', async () => {
    const owner = await registerAccount(system, 'Docs analytics');
    const token = owner.accessToken;
    const created = asDocumented(
      'POST',
      '/contacts',
      await http.post('/contacts', { email: uniqueEmail('doc-search'), firstName: 'Documented' }, { token }),
    ).body;
    const fresh = { token, headers: { 'X-Min-Position': created.position } };
    asDocumented('GET', '/search/contacts', await http.get('/search/contacts?q=documen', fresh));
    asDocumented('GET', '/search/contacts', await http.get('/search/contacts?limit=0', fresh));
    asDocumented('GET', '/search/executions', await http.get('/search/executions?q=nothing', fresh));
    asDocumented('GET', '/analytics/usage', await http.get('/analytics/usage', fresh));
    asDocumented('GET', '/analytics/usage', await http.get('/analytics/usage?from=tomorrow', fresh));
    asDocumented('GET', '/analytics/series', await http.get('/analytics/series?metric=events&interval=week', fresh));
    asDocumented('GET', '/analytics/workflows', await http.get('/analytics/workflows', fresh));
    asDocumented('GET', '/analytics/events', await http.get('/analytics/events', fresh));
    asDocumented('GET', '/analytics/retention', await http.get('/analytics/retention?interval=month', fresh));
    asDocumented('GET', '/analytics/export', await http.get('/analytics/export', fresh));
    expect(checked).to.include.members([
      'GET /search/contacts 200',
      'GET /search/contacts 400',
      'GET /analytics/usage 200',
      'GET /analytics/usage 400',
      'GET /analytics/export 200',
    ]);
  });
});
