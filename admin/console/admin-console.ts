import './adminjs-environment.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Router from '@koa/router';
import AdminJS, { AppController, ComponentLoader } from 'adminjs';
import AdminJSKoa from '@adminjs/koa';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { StaffAccounts, SignedInStaff } from '../../command-api/staff/staff-accounts.ts';
import type { StaffConsole, StaffRequest } from '../../command-api/staff/staff-console.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';
import { requestContext } from '../../infra/http/request-context.ts';
import type { MikroORM } from '@mikro-orm/postgresql';
import { componentsDirectory } from './adminjs-environment.ts';
import { consoleResources, type ConsoleResourceDeps, type StaffBilling } from './resources/index.ts';
import type { Dashboard } from './dashboard.ts';
import type { ProjectionsSource } from './projections-resource.ts';
import { CSRF_HEADER, fromAnotherSite, sameToken, StaffSessions, type StaffSession } from './staff-sessions.ts';
import { addSignInRoutes } from './staff-sign-in.ts';
import { escapeHtml, impersonationPage } from './pages.ts';

export const ADMIN_ROOT = '/admin';
const IMPERSONATION_HOLD_MS = 2 * 60_000;

export interface AdminConsoleDependencies {
  logger: Logger;
  orm: MikroORM;
  streams: { readStream(streamId: string): Promise<RecordedEvent[]> };
  ephemeral: EphemeralStore;
  staffAccounts: StaffAccounts;
  staffConsole: StaffConsole;
  /** Billing's commands that staff run (standing checks, payment retries). */
  billing: StaffBilling;
  dashboard: Dashboard;
  projections: ProjectionsSource;
  settle(projections: readonly string[], position: string | null): Promise<void>;
  /** Secure cookies and pre-bundled components: production. */
  production: boolean;
  trustProxy: boolean;
  session: { idleMs: number; absoluteMs: number };
}

export interface AdminConsole {
  /** A Koa app serving everything under /admin (the HTTP server routes /admin there). */
  app: Koa;
  admin: AdminJS;
  close(): Promise<void>;
}

/**
 * The staff console: AdminJS on Koa at /admin, over the read models, every write a staff command. Around
 * AdminJS (which has no authentication or CSRF protection of its own worth the name) it puts: staff sign-in
 * with optional TOTP, server-side sessions, a CSRF token on every API call and state-changing request, and
 * a refusal of anything that says it comes from another site.
 */
export async function createAdminConsole(deps: AdminConsoleDependencies): Promise<AdminConsole> {
  const sessions = new StaffSessions(deps.ephemeral, { ...deps.session, secure: deps.production, path: ADMIN_ROOT });
  // AdminJS's action context does not carry the request; its id, IP and agent go into event metadata.
  const currentRequest = new AsyncLocalStorage<Koa.Context>();
  const admin = adminJsFor(deps, (_context, staff) => staffRequestOf(currentRequest.getStore(), staff));

  const app = new Koa({ proxy: deps.trustProxy });
  app.silent = true;
  // Failures after the middleware (a response that cannot be serialized) are reported here.
  app.on('error', (err: unknown) => deps.logger.error({ err, component: 'admin-console' }, 'console response failed'));
  app.use(requestContext(deps.logger.child({ component: 'admin-console' })));
  app.use(consoleHeaders());
  app.use(errorPages(deps.logger));

  // Our own routes first: sign-in, sign-out, the one-time impersonation page. Everything else needs a session.
  const guard = sessionGuard(sessions, deps.staffAccounts);
  const own = new Router({ prefix: ADMIN_ROOT });
  addSignInRoutes(own, { root: ADMIN_ROOT, staffAccounts: deps.staffAccounts, sessions, secure: deps.production });
  const logout = async (ctx: Koa.Context) => {
    await sessions.end(ctx);
    ctx.redirect(`${ADMIN_ROOT}/login`);
  };
  own.get('/logout', guard, logout);
  own.post('/logout', guard, logout);
  own.get('/impersonations/:handle', guard, (ctx) => showImpersonation(ctx, deps.ephemeral));
  app.use(own.routes());
  app.use(own.allowedMethods());

  const adminRouter = new Router({ prefix: ADMIN_ROOT });
  adminRouter.use(guard);
  adminRouter.use((ctx, next) => currentRequest.run(ctx, next));
  app.use(assetsForStaffOnly(sessions));
  AdminJSKoa.buildRouter(admin, app, adminRouter, { maxFileSize: 1024 * 1024, multiples: false });
  app.use(adminRouter.routes());
  app.use(adminRouter.allowedMethods());

  // Bundle our components now rather than on the first page view (AdminJS keeps the bundle on disk).
  const bundling = new AppController({ admin }, null)
    .bundleComponents()
    .catch((err: unknown) => deps.logger.error({ err }, 'could not bundle the console components'));

  return {
    app,
    admin,
    async close() {
      await bundling;
      deps.dashboard.close();
    },
  };
}

/** AdminJS with our dashboard, resources and action names. */
function adminJsFor(deps: AdminConsoleDependencies, requestOf: ConsoleResourceDeps['requestOf']): AdminJS {
  const componentLoader = new ComponentLoader();
  const dashboardComponent = componentLoader.add('NexusFlowDashboard', path.join(componentsDirectory, 'dashboard.jsx'));
  // Named as the Billing resource's options name them.
  componentLoader.add('BillingActionForm', path.join(componentsDirectory, 'billing-action-form.jsx'));
  componentLoader.add('BillingInvoices', path.join(componentsDirectory, 'billing-invoices.jsx'));
  componentLoader.add('BillingUsage', path.join(componentsDirectory, 'billing-usage.jsx'));
  return new AdminJS({
    rootPath: ADMIN_ROOT,
    loginPath: `${ADMIN_ROOT}/login`,
    logoutPath: `${ADMIN_ROOT}/logout`,
    componentLoader,
    branding: { companyName: 'NexusFlow staff console', withMadeWithLove: false },
    dashboard: { component: dashboardComponent, handler: async () => deps.dashboard.data() },
    resources: consoleResources({
      orm: deps.orm,
      streams: deps.streams,
      staffConsole: deps.staffConsole,
      billing: deps.billing,
      projections: deps.projections,
      settle: deps.settle,
      requestOf,
      holdImpersonation: async (staff, grant) => {
        const handle = randomBytes(24).toString('base64url');
        await deps.ephemeral.set(`impersonation:${handle}`, JSON.stringify({ staffId: staff.id, ...grant }), IMPERSONATION_HOLD_MS);
        return `${ADMIN_ROOT}/impersonations/${handle}`;
      },
    }),
    locale: {
      language: 'en',
      translations: {
        en: {
          actions: {
            suspend: 'Suspend',
            reactivate: 'Reactivate',
            impersonate: 'View as read-only',
            history: 'History',
            retry: 'Retry',
            rebuild: 'Rebuild',
            extendTrial: 'Extend trial',
            compPlan: 'Comp a plan',
            retryPayment: 'Retry payment',
          },
        },
      },
    },
  });
}

/** Who acts, and the console request an action runs in (its correlation id, IP and agent), for event metadata. */
function staffRequestOf(koa: Koa.Context | undefined, staff: SignedInStaff): StaffRequest {
  return {
    staff,
    correlationId: (koa?.state.correlationId as string | undefined) ?? randomBytes(16).toString('hex'),
    ...(koa ? { ip: koa.ip, userAgent: koa.get('User-Agent') } : {}),
  };
}

/**
 * Everything but sign-in: a live session of a staff member who is still active, and for API calls and
 * state-changing requests, the session's CSRF token and no sign of another site.
 */
function sessionGuard(sessions: StaffSessions, staffAccounts: StaffAccounts): Koa.Middleware {
  return async (ctx, next) => {
    const session = await sessions.load(ctx);
    const isApi = ctx.path.startsWith(`${ADMIN_ROOT}/api/`);
    const changesState = !['GET', 'HEAD', 'OPTIONS'].includes(ctx.method);
    const staff = session ? await staffAccounts.current(session.adminUser.id) : null;
    if (!session || !staff) {
      if (session) await sessions.end(ctx);
      if (isApi || changesState) {
        ctx.status = 401;
        ctx.body = { error: 'Sign in to the staff console first' };
        return;
      }
      ctx.redirect(`${ADMIN_ROOT}/login`);
      return;
    }
    if ((isApi || changesState) && (fromAnotherSite(ctx) || !sameToken(session.csrf, ctx.get(CSRF_HEADER) || undefined))) {
      ctx.state.logger.warn({ staffId: staff.id, method: ctx.method, path: ctx.path }, 'refused a console request without a valid CSRF token');
      ctx.status = 403;
      ctx.body = { error: 'This request did not come from the console (missing or wrong CSRF token)' };
      return;
    }
    // The role may have changed since sign-in: the session carries the current one.
    const current: StaffSession = { ...session, adminUser: staff };
    ctx.session = current as unknown as typeof ctx.session;
    sessions.reissueCsrfCookie(ctx, current);
    await next();
  };
}

/** The page that shows an impersonation token, once, to the staff member who asked for it. */
async function showImpersonation(ctx: Koa.Context, ephemeral: EphemeralStore): Promise<void> {
  const key = `impersonation:${ctx.params.handle}`;
  const held = await ephemeral.get(key);
  const staff = (ctx.session as unknown as StaffSession).adminUser;
  const grant = held ? (JSON.parse(held) as { staffId: string; organizationId: string; accessToken: string; expiresAt: string }) : null;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  if (!grant || grant.staffId !== staff.id) {
    ctx.status = 404;
    ctx.body = impersonationPage(null);
    return;
  }
  // Shown once: the token is in this page only.
  await ephemeral.delete(key);
  ctx.body = impersonationPage(grant);
}

/** AdminJS's static assets are mounted on the app; they too are for signed-in staff only. */
function assetsForStaffOnly(sessions: StaffSessions): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.path.startsWith(`${ADMIN_ROOT}/frontend/`)) {
      const session = await sessions.load(ctx);
      if (!session) {
        ctx.status = 401;
        return;
      }
    }
    await next();
  };
}

/** A console page is HTML with AdminJS's inline bootstrap script: a policy that allows exactly that. */
function consoleHeaders(): Koa.Middleware {
  return async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; " +
        "font-src 'self' data: https://fonts.gstatic.com; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
    );
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}

function errorPages(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      ((ctx.state.logger as Logger | undefined) ?? logger).error({ err }, 'console request failed');
      ctx.status = 500;
      if (ctx.path.startsWith(`${ADMIN_ROOT}/api/`)) ctx.body = { error: 'The console failed to answer; the error is in its log' };
      else {
        ctx.type = 'html';
        ctx.body = `<!doctype html><title>Error</title><p>The console failed to answer (request ${escapeHtml(String(ctx.state.requestId))}); the error is in its log.</p>`;
      }
    }
  };
}
