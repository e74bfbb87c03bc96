import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { organizationStream } from '../../domain/organizations/organization.ts';
import { chromiumInstalled, launchChromium } from '../support/browser.ts';
import { nexusflow } from '../support/cli.ts';
import { eventually, testEvent } from '../support/events.ts';
import { registerAccount, startTestSystem, uniqueEmail, type Account, type TestSystem } from '../support/http.ts';
import { expectProblem } from '../support/problems.ts';
import { ConsoleClient } from '../support/staff-console.ts';

const available = chromiumInstalled() || process.env.CI === 'true';
const title = 'The staff console in a browser (Debian Chromium, real PostgreSQL and Redis)';

(available ? describe : describe.skip)(
  available ? title : `${title} (skipped: /usr/bin/chromium is not installed here; apt-get install chromium)`,
  function () {
    this.timeout(180_000);
    let system: TestSystem;
    let tenant: Account;
    let bystander: Account;
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    let page: Page;
    let planId: string;
    let parkedId: string;
    let gapOrganization: string;
    const email = `first-admin-${randomUUID().slice(0, 8)}@staff.nexusflow.test`;
    const password = 'a long first admin password';

    const url = (path: string) => system.http.baseUrl + path;
    const orgEvents = (organizationId: string) => system.process.platform.eventStore.readStream(organizationStream(organizationId));

    /** Clicks a record action button and confirms its guard, as a staff member would. */
    async function runRecordAction(label: string): Promise<void> {
      await actionButton(label).click();
      await page.getByRole('button', { name: 'Confirm' }).click();
    }

    /** AdminJS renders a record's actions as links styled as buttons, in the page header. */
    function actionButton(label: string) {
      return page.getByRole('link', { name: label, exact: true }).first();
    }

    before(async () => {
      system = await startTestSystem({ commands: true, queries: true, projectors: true, admin: true });
      const created = await nexusflow(['staff', 'create', '--email', email, '--password', password, '--role', 'admin'], {
        DATABASE_URL: system.database.url,
        JWT_SECRET: '',
        PASSWORD_HASH_COST: '10',
        LOG_LEVEL: 'warn',
        NEXUSFLOW_DATA_DIR: '/nonexistent',
      });
      expect(created.code, created.stderr).to.equal(0);
      tenant = await registerAccount(system, 'Browsed');
      bystander = await registerAccount(system, 'Bystander');

      // An active plan to move the tenant onto (made through the console's API by the same admin).
      const client = new ConsoleClient(system.http.baseUrl);
      expect((await client.signIn(email, password)).status).to.equal(302);
      const plan = await client.api('POST', '/resources/Plan/actions/new', {
        form: new URLSearchParams({ name: 'Browser Growth', status: 'active', monthlyPriceCents: '9900', currency: 'USD' }),
      });
      planId = plan.body.record.params.id;

      // A parked event: a rename recorded before its organization's creation (a gap the projection cannot
      // apply), then the creation, so that a retry succeeds.
      gapOrganization = randomUUID();
      const store = system.process.platform.eventStore;
      await store.append(
        organizationStream(gapOrganization),
        [testEvent('OrganizationRenamed', { organizationId: gapOrganization, name: 'Renamed later' }, { tenantId: gapOrganization })],
        'no_stream',
      );
      const parked = await eventually(
        () =>
          system.process.platform.pool.query<{ id: string }>('SELECT id FROM parked_events WHERE event_type = $1 AND resolved_at IS NULL', [
            'OrganizationRenamed',
          ]),
        (r) => r.rowCount === 1,
      );
      parkedId = String(parked.rows[0]!.id);
      await store.append(
        organizationStream(gapOrganization),
        [
          testEvent(
            'OrganizationCreated',
            { organizationId: gapOrganization, name: 'Gap Inc', ownerUserId: randomUUID(), timezone: 'UTC' },
            { tenantId: gapOrganization },
          ),
        ],
        0,
      );

      browser = await launchChromium();
      page = await browser.context.newPage();
    });

    after(async () => {
      await browser?.close();
      await system?.stop();
    });

    it('signs in as staff (the first admin made by `npx nexusflow staff create`) and shows the operations dashboard', async () => {
      await page.goto(url('/admin'));
      expect(new URL(page.url()).pathname).to.equal('/admin/login');
      await page.fill('input[name=email]', email);
      await page.fill('input[name=password]', password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(url('/admin'));
      const dashboard = page.getByTestId('ops-dashboard');
      await dashboard.waitFor();
      await page.getByText('Projector lag').waitFor();
      await page.getByText('Queue depths').waitFor();
      // The parked event is among the recent failures.
      await page.getByText('organizations: OrganizationRenamed').waitFor();
    });

    it('suspends the tenant, and the tenant’s writes are then refused through the API', async () => {
      await page.goto(url(`/admin/resources/Organization/records/${tenant.organizationId}/show`));
      await runRecordAction('Suspend');
      await page.getByText('is suspended: its writes are refused').waitFor();
      const refused = await system.http.post('/contacts', { email: uniqueEmail('after-suspension') }, { token: tenant.accessToken });
      expectProblem(refused, 403);
      expect(refused.body.code).to.equal('organization_suspended');
      expect((await orgEvents(tenant.organizationId)).at(-1)!.metadata.actor.type).to.equal('staff');
    });

    it('changes the tenant’s plan in the edit form', async () => {
      await page.goto(url(`/admin/resources/Organization/records/${tenant.organizationId}/edit`));
      const select = page.locator('section').filter({ hasText: 'Plan Id' }).locator('input').first();
      await select.click();
      await select.fill('Browser');
      await page.getByText('Browser Growth', { exact: true }).click();
      await page.getByRole('button', { name: 'Save' }).click();
      await eventually(
        () => system.process.platform.pool.query<{ plan_id: string }>('SELECT plan_id FROM organizations WHERE id = $1', [tenant.organizationId]),
        (r) => r.rows[0]?.plan_id === planId,
      );
      const fact = (await orgEvents(tenant.organizationId)).at(-1)!;
      expect(fact.type).to.equal('OrganizationPlanChanged');
      expect(fact.metadata.actor.type).to.equal('staff');
    });

    it('retries the parked event: the projection applies it and the row is resolved', async () => {
      await page.goto(url(`/admin/resources/ParkedEvent/records/${parkedId}/show`));
      await runRecordAction('Retry');
      await page.getByText('Applied: the parked event is resolved').waitFor();
      const rows = await system.process.platform.pool.query<{ resolved_at: Date | null }>('SELECT resolved_at FROM parked_events WHERE id = $1', [
        parkedId,
      ]);
      expect(rows.rows[0]!.resolved_at).to.be.instanceOf(Date);
      const org = await system.process.platform.pool.query<{ name: string }>('SELECT name FROM organizations WHERE id = $1', [gapOrganization]);
      expect(org.rows[0]!.name).to.equal('Renamed later');
      const audit = await system.process.platform.eventStore.readStream(`parkedEvent-${parkedId}`);
      expect(audit.map((e) => e.type)).to.deep.equal(['ParkedEventRetried']);
      expect(audit[0]!.metadata.actor.type).to.equal('staff');
    });

    it('reads the tenant’s history, newest first, with the staff member’s actions in it', async () => {
      await page.goto(url(`/admin/resources/Organization/records/${tenant.organizationId}/show`));
      await actionButton('History').click();
      await page.waitForURL((u) => u.pathname === '/admin/resources/History');
      const rows = page.locator('table tbody tr');
      await rows.first().waitFor();
      const types = (await rows.allInnerTexts()).map((text) =>
        text
          .split('\t')
          .find((cell) => /^[A-Z][A-Za-z]+$/.test(cell.trim()))
          ?.trim(),
      );
      expect(types.slice(0, 3)).to.deep.equal(['OrganizationPlanChanged', 'OrganizationSuspended', 'OrganizationCreated']);
    });

    it('refuses a forged cross-site POST made from another site’s page, and nothing changes', async () => {
      const before = (await orgEvents(bystander.organizationId)).length;
      const target = url(`/admin/api/resources/Organization/records/${bystander.organizationId}/suspend`);
      const evil = http.createServer((_req, res) => {
        res.setHeader('Content-Type', 'text/html');
        res.end(
          `<!doctype html><form id="f" method="POST" action="${target}"><input name="x" value="1"></form><script>document.getElementById('f').submit()</script>`,
        );
      });
      await new Promise<void>((resolve) => evil.listen(0, 'localhost', resolve));
      try {
        // localhost is another site than 127.0.0.1, where the console is.
        const response = page.waitForResponse((r) => r.url() === target);
        await page.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
        expect([401, 403]).to.include((await response).status());
      } finally {
        evil.close();
      }
      expect((await orgEvents(bystander.organizationId)).length).to.equal(before);
      expect((await system.http.post('/contacts', { email: uniqueEmail('bystander') }, { token: bystander.accessToken })).status).to.equal(201);
    });

    it('shows the tenant’s billing on the Billing page, and extends its trial through the action’s form', async () => {
      await page.goto(url('/admin/resources/Billing'));
      await page.locator('table tbody tr').filter({ hasText: 'Browsed' }).first().waitFor();
      await page.goto(url(`/admin/resources/Billing/records/${tenant.organizationId}/show`));
      // The plan staff put it on (no subscription): its usage is shown against that plan's limits.
      await page.getByTestId('billing-usage').getByText('Plan Browser Growth (active)').waitFor();
      await page.getByTestId('billing-invoices').getByText('No invoice reported yet.').waitFor();

      await actionButton('Extend trial').click();
      const until = new Date(Date.now() + 40 * 86_400_000);
      const local = new Date(until.getTime() - until.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
      await page.getByTestId('billing-action-form').locator('input[type=datetime-local]').fill(local);
      await page.getByRole('button', { name: 'Extend trial' }).click();
      await page.getByText('The trial of Browsed').waitFor();
      const fact = (await orgEvents(tenant.organizationId)).at(-1)!;
      expect([fact.type, fact.metadata.actor.type]).to.deep.equal(['TrialExtended', 'staff']);
    });
  },
);
