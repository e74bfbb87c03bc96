import { expect } from 'chai';
import { TOTP } from 'otpauth';
import type { CommandHandler } from '../../command-api/command-handling.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { organizationServicesModule } from '../../command-api/organizations/module.ts';
import type { OrganizationCommands } from '../../command-api/organizations/organization-commands.ts';
import { planCommandsModule } from '../../command-api/plans/module.ts';
import type { PlanCommands } from '../../command-api/plans/plan-commands.ts';
import { StaffConsole } from '../../command-api/staff/staff-console.ts';
import { ForbiddenError } from '../../domain/errors.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import { eventually, testEvent } from '../support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';
import { withServices } from '../support/services.ts';
import { ConsoleClient, createStaff, STAFF_PASSWORD, withStaffAccounts } from '../support/staff-console.ts';

type Staff = Awaited<ReturnType<typeof createStaff>>;

describe('The staff console over HTTP (real PostgreSQL and Redis)', function () {
  this.timeout(120_000);
  let system: TestSystem;
  let admin: Staff;
  let support: Staff;
  let tenant: Account;
  let adminClient: ConsoleClient;
  let supportClient: ConsoleClient;

  const base = () => system.http.baseUrl;
  const orgEvents = async (organizationId: string) => system.process.platform.eventStore.readStream(`organization-${organizationId}`);
  const lastOrgEvent = async (organizationId: string) => (await orgEvents(organizationId)).at(-1)!;

  /** A plan drafted (and activated) through the console, as an admin would. */
  async function planThroughConsole(name: string, status: 'draft' | 'active'): Promise<string> {
    const created = await adminClient.api('POST', '/resources/Plan/actions/new', {
      form: new URLSearchParams({ name, status, monthlyPriceCents: '4900', currency: 'usd', contactsLimit: '1000', seatsLimit: '' }),
    });
    expect(created.status, created.text).to.equal(200);
    expect(created.body.record.errors ?? {}, JSON.stringify(created.body)).to.deep.equal({});
    return created.body.record.params.id as string;
  }

  before(async () => {
    system = await startTestSystem({ commands: true, queries: true, projectors: true, admin: true });
    [admin, support] = [await createStaff(system, 'admin'), await createStaff(system, 'support')];
    tenant = await registerAccount(system, 'Customer');
    adminClient = new ConsoleClient(base());
    supportClient = new ConsoleClient(base());
    expect((await adminClient.signIn(admin.email, admin.password)).status).to.equal(302);
    expect((await supportClient.signIn(support.email, support.password)).status).to.equal(302);
  });

  after(async () => {
    await system?.stop();
  });

  describe('signing in', () => {
    it('signs staff in with fresh httpOnly, sameSite=strict session cookies; wrong credentials and tenant users are refused alike', async () => {
      const client = new ConsoleClient(base());
      const wrong = await client.signIn(admin.email, 'not the password');
      expect(wrong.status).to.equal(401);
      expect(wrong.text).to.include('Invalid email, password or code.');
      // A tenant user is not staff, whatever their role in their organization.
      const tenantUser = await client.signIn(tenant.email, tenant.password);
      expect(tenantUser.status).to.equal(401);
      expect((await client.request('GET', '/admin')).headers.get('location')).to.equal('/admin/login');

      const signedIn = await client.signIn(admin.email, admin.password);
      expect(signedIn.status).to.equal(302);
      expect(signedIn.headers.get('location')).to.equal('/admin');
      const cookies = signedIn.headers.getSetCookie();
      const session = cookies.find((c) => c.startsWith('nf_staff_session='))!;
      expect(session)
        .to.match(/httponly/i)
        .and.to.match(/samesite=strict/i)
        .and.to.match(/path=\/admin/i);
      // Not in production: plain HTTP. (NODE_ENV=production adds Secure.)
      expect(session).not.to.match(/secure/i);
      expect(cookies.find((c) => c.startsWith('XSRF-TOKEN='))).to.match(/samesite=strict/i);
      const page = await client.request('GET', '/admin');
      expect(page.status).to.equal(200);
      expect(page.text).to.include('NexusFlow staff console');
      // The sign-in is recorded in the staff member's own stream (no tenant).
      const events = await system.process.platform.eventStore.readStream(`staff-${admin.id}`);
      expect(events.at(-1)).to.deep.include({ type: 'StaffSignedIn' });
      expect(events.at(-1)!.metadata.tenantId).to.equal(null);
    });

    it('needs a code from the authenticator once two-factor sign-in is on, and takes each code once', async () => {
      const staff = await createStaff(system, 'support');
      const id = 'totp-test';
      const { secret } = await withStaffAccounts(system, (accounts) =>
        accounts.enableTotp({ tenantId: null, actor: { type: 'system', id }, correlationId: id, causationId: id, now: new Date() }, staff.email),
      );
      const code = new TOTP({ secret, digits: 6, period: 30, algorithm: 'SHA1' }).generate();

      expect((await new ConsoleClient(base()).signIn(staff.email, STAFF_PASSWORD)).status).to.equal(401);
      expect((await new ConsoleClient(base()).signIn(staff.email, STAFF_PASSWORD, '000000')).status).to.equal(401);
      expect((await new ConsoleClient(base()).signIn(staff.email, STAFF_PASSWORD, code)).status).to.equal(302);
      // The same code again (a shoulder-surfer, a replayed form): refused.
      expect((await new ConsoleClient(base()).signIn(staff.email, STAFF_PASSWORD, code)).status).to.equal(401);
    });

    it('refuses the sign-in form when it was not sent from the console (no form token, or another origin)', async () => {
      const client = new ConsoleClient(base());
      const noToken = await client.request('POST', '/admin/login', { form: new URLSearchParams({ email: admin.email, password: admin.password }) });
      expect(noToken.status).to.equal(403);
      await client.request('GET', '/admin/login');
      const page = await client.request('GET', '/admin/login');
      const token = /name="_csrf" value="([^"]*)"/.exec(page.text)![1]!;
      const elsewhere = await client.request('POST', '/admin/login', {
        form: new URLSearchParams({ _csrf: token, email: admin.email, password: admin.password }),
        headers: { Origin: 'https://evil.example' },
      });
      expect(elsewhere.status).to.equal(403);
      expect(elsewhere.headers.getSetCookie().some((c) => c.startsWith('nf_staff_session='))).to.equal(false);
    });

    it('answers API calls without a session 401, sends pages to the sign-in, and signing out ends the session', async () => {
      const anonymous = new ConsoleClient(base());
      expect((await anonymous.api('GET', '/resources/Organization/actions/list')).status).to.equal(401);
      expect((await anonymous.request('GET', '/admin/resources/Organization')).headers.get('location')).to.equal('/admin/login');
      expect((await anonymous.request('GET', '/admin/frontend/assets/app.bundle.js')).status).to.equal(401);

      const client = new ConsoleClient(base());
      await client.signIn(support.email, support.password);
      expect((await client.api('GET', '/resources/Organization/actions/list')).status).to.equal(200);
      const stolenCookies = client;
      await client.request('GET', '/admin/logout');
      expect((await stolenCookies.api('GET', '/resources/Organization/actions/list')).status).to.equal(401);
    });
  });

  describe('cross-site request forgery', () => {
    it('refuses a state-changing request without the CSRF token, with a wrong one, or from another site, and changes nothing', async () => {
      const target = await registerAccount(system, 'Forgery target');
      const before = (await orgEvents(target.organizationId)).length;
      const suspend = `/resources/Organization/records/${target.organizationId}/suspend`;

      const noToken = await adminClient.api('GET', suspend, { withToken: false });
      expect(noToken.status).to.equal(403);
      const wrongToken = await adminClient.api('GET', suspend, { withToken: false, headers: { 'X-XSRF-TOKEN': 'forged' } });
      expect(wrongToken.status).to.equal(403);
      const crossSite = await adminClient.api('GET', suspend, { headers: { 'Sec-Fetch-Site': 'cross-site' } });
      expect(crossSite.status).to.equal(403);
      const otherOrigin = await adminClient.api('POST', `/resources/Organization/records/${target.organizationId}/edit`, {
        form: new URLSearchParams({ trialEndsAt: new Date(Date.now() + 7 * 86_400_000).toISOString() }),
        headers: { Origin: 'https://evil.example' },
      });
      expect(otherOrigin.status).to.equal(403);

      expect((await orgEvents(target.organizationId)).length).to.equal(before);
      expect((await system.http.post('/contacts', { email: uniqueEmail('still') }, { token: target.accessToken })).status).to.equal(201);
    });
  });

  describe('an admin', () => {
    it('suspends a tenant: its writes are refused through the API, its reads go on; reactivating lets it write again', async () => {
      const suspended = await adminClient.api('GET', `/resources/Organization/records/${tenant.organizationId}/suspend`);
      expect(suspended.status).to.equal(200);
      expect(suspended.body.notice).to.deep.include({ type: 'success' });
      expect(suspended.body.record.params.status).to.equal('suspended');
      const fact = await lastOrgEvent(tenant.organizationId);
      expect(fact.type).to.equal('OrganizationSuspended');
      expect(fact.metadata.actor).to.deep.equal({ type: 'staff', id: admin.id });
      expect(fact.metadata.tenantId).to.equal(tenant.organizationId);

      const refused = await system.http.post('/contacts', { email: uniqueEmail('refused') }, { token: tenant.accessToken });
      expectProblem(refused, 403);
      expect(refused.body.code).to.equal('organization_suspended');
      expect((await system.http.get('/organizations/current', { token: tenant.accessToken })).status).to.equal(200);

      const reactivated = await adminClient.api('GET', `/resources/Organization/records/${tenant.organizationId}/reactivate`);
      expect(reactivated.body.record.params.status).to.equal('active');
      expect((await system.http.post('/contacts', { email: uniqueEmail('again') }, { token: tenant.accessToken })).status).to.equal(201);
    });

    it('changes a tenant’s plan to an active plan; a draft plan is refused with the error on the plan field', async () => {
      const draft = await planThroughConsole(`Draft ${Date.now()}`, 'draft');
      const growth = await planThroughConsole(`Growth ${Date.now()}`, 'active');
      const plan = await adminClient.api('GET', `/resources/Plan/records/${growth}/show`);
      expect(plan.body.record.params).to.deep.include({
        status: 'active',
        monthlyPriceCents: 4900,
        currency: 'USD',
        contactsLimit: 1000,
        seatsLimit: null,
      });

      const refused = await adminClient.api('POST', `/resources/Organization/records/${tenant.organizationId}/edit`, {
        form: new URLSearchParams({ planId: draft }),
      });
      expect(refused.body.record?.errors?.planId?.message, refused.status + refused.text.slice(0, 500)).to.match(/only be put on an active plan/);
      expect(refused.body.notice.type).to.equal('error');

      const changed = await adminClient.api('POST', `/resources/Organization/records/${tenant.organizationId}/edit`, {
        form: new URLSearchParams({ planId: growth }),
      });
      expect(changed.body.record.errors ?? {}).to.deep.equal({});
      expect(changed.body.record.params.planId).to.equal(growth);
      const fact = await lastOrgEvent(tenant.organizationId);
      expect(fact).to.deep.include({ type: 'OrganizationPlanChanged' });
      expect(fact.data).to.deep.equal({ organizationId: tenant.organizationId, planId: growth, previousPlanId: null });
      expect(fact.metadata.actor).to.deep.equal({ type: 'staff', id: admin.id });
    });

    it('manages the catalog through commands: bad terms come back on their fields, edits revise, delete retires', async () => {
      const bad = await adminClient.api('POST', '/resources/Plan/actions/new', {
        form: new URLSearchParams({ name: 'Broken', status: 'draft', monthlyPriceCents: '-5', currency: 'USD', seatsLimit: '2.5' }),
      });
      expect(bad.body.record.errors.monthlyPriceCents.message).to.match(/whole, non-negative/);
      expect(await system.process.platform.pool.query(`SELECT 1 FROM plans WHERE name = 'Broken'`).then((r) => r.rowCount)).to.equal(0);

      const id = await planThroughConsole(`Scale ${Date.now()}`, 'draft');
      const limits = await adminClient.api('POST', `/resources/Plan/records/${id}/edit`, { form: new URLSearchParams({ seatsLimit: '-1' }) });
      expect(limits.body.record.errors.seatsLimit.message).to.match(/seats limit/);
      const revised = await adminClient.api('POST', `/resources/Plan/records/${id}/edit`, {
        form: new URLSearchParams({ seatsLimit: '25', status: 'active' }),
      });
      expect(revised.body.record.params).to.deep.include({ seatsLimit: 25, status: 'active' });
      const retired = await adminClient.api('POST', `/resources/Plan/records/${id}/delete`);
      expect(retired.status).to.equal(200);
      const stream = await system.process.platform.eventStore.readStream(`plan-${id}`);
      expect(stream.map((e) => e.type)).to.deep.equal(['PlanDrafted', 'PlanRevised', 'PlanActivated', 'PlanRetired']);
      expect(new Set(stream.map((e) => e.metadata.actor.id))).to.deep.equal(new Set([admin.id]));
      await eventually(
        () => adminClient.api('GET', `/resources/Plan/records/${id}/show`),
        (r) => r.body.record.params.status === 'retired',
      );
    });

    it('shows a record’s history: its stream’s events, newest first, with who did it', async () => {
      const opened = await adminClient.api('GET', `/resources/Organization/records/${tenant.organizationId}/history`);
      const url = new URL(opened.body.redirectUrl, base());
      expect(url.pathname).to.equal('/admin/resources/History');
      const stream = url.searchParams.get('filters.streamId')!;
      const list = await adminClient.api('GET', `/resources/History/actions/list?filters.streamId=${encodeURIComponent(stream)}&perPage=50`);
      const types = list.body.records.map((r: { params: { type: string } }) => r.params.type);
      const stored = (await orgEvents(tenant.organizationId)).map((e) => e.type).reverse();
      expect(types).to.deep.equal(stored);
      expect(types[0]).to.equal('OrganizationPlanChanged');
      expect(list.body.records[0].params.actor).to.equal(`staff:${admin.id}`);
      // Secrets in events stay hidden even in the history (the owner's sign-up carries a password hash).
      const user = await adminClient.api('GET', `/resources/History/actions/list?filters.streamId=${encodeURIComponent(`user-${tenant.userId}`)}`);
      expect(JSON.stringify(user.body.records)).not.to.match(/scrypt\$/);
    });

    it('opens a read-only, audited view of a tenant: a viewer token, shown once, that cannot write', async () => {
      const opened = await adminClient.api('GET', `/resources/Organization/records/${tenant.organizationId}/impersonate`);
      const page = await adminClient.request('GET', opened.body.redirectUrl);
      const token = /data-testid="impersonation-token">([^<]+)</.exec(page.text)![1]!;
      expect((await adminClient.request('GET', opened.body.redirectUrl)).status).to.equal(404);
      expect((await supportClient.request('GET', opened.body.redirectUrl)).status).to.equal(404);

      const read = await system.http.get('/contacts', { token });
      expect(read.status).to.equal(200);
      expect(read.body.data.length).to.be.greaterThan(0);
      expectProblem(await system.http.post('/contacts', { email: uniqueEmail('imp') }, { token }), 403);
      const fact = await lastOrgEvent(tenant.organizationId);
      expect(fact.type).to.equal('ImpersonationStarted');
      expect(fact.data).to.deep.include({ staffId: admin.id, organizationId: tenant.organizationId });
    });
  });

  describe('operations', () => {
    it('rebuilds a read model from the console, with progress in the projections list, and records who started it', async () => {
      const started = await adminClient.api('GET', '/resources/Projections/records/search/rebuild');
      expect(started.body.notice, JSON.stringify(started.body)).to.deep.include({ type: 'success' });
      // "done:" is the finished job; its progress says "done generation 2: …" a moment before.
      const done = await eventually(
        () => adminClient.api('GET', '/resources/Projections/actions/list?perPage=50'),
        (r) =>
          r.body.records.some(
            (p: { params: { name: string; rebuild: string } }) => p.params.name === 'search' && p.params.rebuild.startsWith('done:'),
          ),
        60_000,
      );
      const search = done.body.records.find((p: { params: { name: string } }) => p.params.name === 'search').params;
      expect(search.rebuild).to.match(/^done: generation 2 serves \(\d+ events, \d+ events\/s\)$/);
      expect(system.process.platform.generations.generation('search')).to.equal(2);
      const served = await eventually(
        () => adminClient.api('GET', '/resources/Projections/actions/list?perPage=50'),
        (r) => r.body.records.some((p: { params: { name: string; served: boolean } }) => p.params.name === 'search@2' && p.params.served),
      );
      expect(served.status).to.equal(200);
      const audit = await system.process.platform.eventStore.readStream('readModel-search');
      expect(audit.map((e) => e.type)).to.deep.equal(['ProjectionRebuildStarted']);
      expect(audit[0]!.metadata.actor).to.deep.equal({ type: 'staff', id: admin.id });
      // Search still answers, from the new generation.
      expect((await system.http.get('/search/contacts?q=a', { token: tenant.accessToken })).status).to.equal(200);
    });

    it('retries a parked event that still fails: the row keeps waiting with the new error, and the attempt is recorded', async () => {
      const organizationId = crypto.randomUUID();
      await system.process.platform.eventStore.append(
        `organization-${organizationId}`,
        [testEvent('OrganizationRenamed', { organizationId, name: 'Never created' }, { tenantId: organizationId })],
        'no_stream',
      );
      const parked = await eventually(
        () =>
          system.process.platform.pool.query<{ id: string; attempts: number }>('SELECT id, attempts FROM parked_events WHERE stream_id = $1', [
            `organization-${organizationId}`,
          ]),
        (r) => r.rowCount === 1,
      );
      const { id, attempts } = parked.rows[0]!;
      const retried = await supportClient.api('GET', `/resources/ParkedEvent/records/${id}/retry`);
      expect(retried.body.notice.message).to.match(/^Failed again: ProjectionError: organization .* is not in the read model$/);
      expect(retried.body.record.params.attempts).to.equal(attempts + 1);
      expect(retried.body.record.params.resolvedAt).to.equal(null);
      const audit = await system.process.platform.eventStore.readStream(`parkedEvent-${id}`);
      expect(audit[0]!.data).to.deep.include({ resolved: false, projection: 'organizations' });
      expect(audit[0]!.metadata.actor).to.deep.equal({ type: 'staff', id: support.id });
    });

    it('serves the dashboard: lag per projection, parked events, queue depths, events/s and recent failures', async () => {
      const dashboard = await supportClient.api('GET', '/dashboard');
      expect(dashboard.status).to.equal(200);
      const data = dashboard.body;
      expect(data.projections.map((p: { name: string }) => p.name)).to.include.members(['contacts', 'organizations', 'plans', 'staff', 'search@2']);
      for (const projection of data.projections) expect(projection.lag === null || projection.lag >= 0).to.equal(true);
      expect(data.parkedTotal).to.be.greaterThan(0);
      expect(data.queues.map((q: { name: string }) => q.name)).to.include('workflow executions ready');
      expect(data.recentFailures[0]).to.deep.include({ kind: 'parked event' });
      expect(data.head).to.be.a('string');
    });
  });

  describe('a support staff member', () => {
    it('reads, extends trials and views read-only, but cannot suspend, change plans, manage the catalog, rebuild or list staff', async () => {
      const target = await registerAccount(system, 'Supported');
      const before = (await orgEvents(target.organizationId)).length;
      expect((await supportClient.api('GET', '/resources/Organization/actions/list')).body.records.length).to.be.greaterThan(0);

      const suspend = await supportClient.api('GET', `/resources/Organization/records/${target.organizationId}/suspend`);
      expect(suspend.body.notice.type).to.equal('error');
      const plan = await adminClient.api('GET', '/resources/Plan/actions/list?filters.status=active');
      const planId = plan.body.records[0].params.id as string;
      const changePlan = await supportClient.api('POST', `/resources/Organization/records/${target.organizationId}/edit`, {
        form: new URLSearchParams({ planId }),
      });
      expect(changePlan.body.notice.type).to.equal('error');
      expect(
        (await supportClient.api('POST', '/resources/Plan/actions/new', { form: new URLSearchParams({ name: 'Sneaky', monthlyPriceCents: '0' }) }))
          .body.notice.type,
      ).to.equal('error');
      expect((await supportClient.api('GET', '/resources/Projections/records/search/rebuild')).body.notice.type).to.equal('error');
      const staffList = await supportClient.api('GET', '/resources/Staff/actions/list');
      expect(staffList.body.records).to.deep.equal([]);
      expect(staffList.body.notice.type).to.equal('error');
      expect((await orgEvents(target.organizationId)).length).to.equal(before);

      // Sign-ups start a 14-day trial: the extension goes beyond it.
      const trialEndsAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
      const extended = await supportClient.api('POST', `/resources/Organization/records/${target.organizationId}/edit`, {
        form: new URLSearchParams({ trialEndsAt }),
      });
      expect(extended.body.record.errors ?? {}, JSON.stringify(extended.body)).to.deep.equal({});
      expect(extended.body.record.params.trialEndsAt).to.equal(trialEndsAt);
      const fact = await lastOrgEvent(target.organizationId);
      expect(fact).to.deep.include({ type: 'TrialExtended' });
      expect(fact.metadata.actor).to.deep.equal({ type: 'staff', id: support.id });
      const shorter = await supportClient.api('POST', `/resources/Organization/records/${target.organizationId}/edit`, {
        form: new URLSearchParams({ trialEndsAt: new Date(Date.now() + 20 * 86_400_000).toISOString() }),
      });
      expect(shorter.body.record.errors.trialEndsAt.message).to.match(/after the current trial end/);
    });

    it('is refused by the staff commands themselves, whatever a console would show', async () => {
      await withServices(system, [commandCoreModule, organizationServicesModule, planCommandsModule], async (services) => {
        const staffConsole = new StaffConsole(
          await services.get<CommandHandler>(TOKENS.CommandHandler),
          await services.get<OrganizationCommands>(TOKENS.OrganizationCommands),
          await services.get<PlanCommands>(TOKENS.PlanCommands),
          { retry: async () => Promise.reject(new Error('not reached')) },
          { requireStartable: () => undefined, start: () => undefined },
          { issueAccessOnly: async () => Promise.reject(new Error('not reached')) },
        );
        const request = { staff: support, correlationId: 'test' };
        for (const attempt of [
          () => staffConsole.suspend(request, tenant.organizationId, 'x'),
          () => staffConsole.changePlan(request, tenant.organizationId, tenant.organizationId),
          () =>
            staffConsole.draftPlan(request, {
              name: 'X',
              monthlyPriceCents: 0,
              currency: 'USD',
              limits: { contacts: null, activeWorkflows: null, executionsPerMonth: null, aiTokensPerMonth: null, seats: null },
            }),
          () => staffConsole.rebuild(request, 'search'),
        ]) {
          let caught: unknown;
          await attempt().catch((err: unknown) => (caught = err));
          expect(caught).to.be.instanceOf(ForbiddenError);
        }
      });
    });
  });
});
