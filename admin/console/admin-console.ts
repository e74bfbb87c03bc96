import './adminjs-environment.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import AdminJS, { AppController, ComponentLoader, type ActionContext } from 'adminjs';
import AdminJSKoa from '@adminjs/koa';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { StaffAccounts, SignedInStaff } from '../../command-api/staff/staff-accounts.ts';
import { StaffSignInLockedError } from '../../command-api/staff/staff-accounts.ts';
import type { StaffConsole, StaffRequest } from '../../command-api/staff/staff-console.ts';
import { DomainError } from '../../domain/errors.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';
import { requestContext } from '../../infra/http/request-context.ts';
import type { MikroORM } from '@mikro-orm/postgresql';
import { componentsDirectory } from './adminjs-environment.ts';
import { consoleResources } from './console-resources.ts';
import type { Dashboard } from './dashboard.ts';
import type { ProjectionsSource } from './projections-resource.ts';
import { CSRF_HEADER, fromAnotherSite, sameToken, StaffSessions, type StaffSession } from './staff-sessions.ts';
import { escapeHtml, impersonationPage, loginPage } from './pages.ts';

export const ADMIN_ROOT = '/admin';
const LOGIN_COOKIE = 'nf_staff_login';
const IMPERSONATION_HOLD_MS = 2 * 60_000;

export interface AdminConsoleDependencies {
  logger: Logger;
  orm: MikroORM;
  streams: { readStream(streamId: string): Promise<RecordedEvent[]> };
  ephemeral: EphemeralStore;
  staffAccounts: StaffAccounts;
  staffConsole: StaffConsole;
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
  const componentLoader = new ComponentLoader();
  const dashboardComponent = componentLoader.add('NexusFlowDashboard', path.join(componentsDirectory, 'dashboard.jsx'));

  // AdminJS's action context does not carry the request; its id, IP and agent go into event metadata.
  const currentRequest = new AsyncLocalStorage<Koa.Context>();
  const requestOf = (_context: ActionContext, staff: SignedInStaff): StaffRequest => {
    const koa = currentRequest.getStore();
    return {
      staff,
      correlationId: (koa?.state.correlationId as string | undefined) ?? randomBytes(16).toString('hex'),
      ...(koa ? { ip: koa.ip, userAgent: koa.get('User-Agent') } : {}),
    };
  };

  const admin = new AdminJS({
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
          },
        },
      },
    },
  });

  const app = new Koa({ proxy: deps.trustProxy });
  app.silent = true;
  // Failures after the middleware (a response that cannot be serialized) are reported here.
  app.on('error', (err: unknown) => deps.logger.error({ err, component: 'admin-console' }, 'console response failed'));
  app.use(requestContext(deps.logger.child({ component: 'admin-console' })));
  app.use(consoleHeaders());
  app.use(errorPages(deps.logger));

  // Our own routes first: sign-in, sign-out, the one-time impersonation page. Everything else needs a session.
  const own = new Router({ prefix: ADMIN_ROOT });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });
  own.get('/login', async (ctx) => {
    const token = randomBytes(32).toString('base64url');
    ctx.cookies.set(LOGIN_COOKIE, token, { path: `${ADMIN_ROOT}/login`, httpOnly: true, sameSite: 'strict', secure: deps.production, overwrite: true });
    ctx.type = 'html';
    ctx.body = loginPage({ action: `${ADMIN_ROOT}/login`, csrf: token, error: null });
  });
  own.post('/login', form, async (ctx) => {
    const body = (ctx.request.body ?? {}) as Record<string, string | undefined>;
    if (fromAnotherSite(ctx) || !sameToken(ctx.cookies.get(LOGIN_COOKIE) ?? '', body._csrf) || !ctx.cookies.get(LOGIN_COOKIE)) {
      ctx.status = 403;
      ctx.type = 'html';
      ctx.body = loginPage({ action: `${ADMIN_ROOT}/login`, csrf: '', error: 'This form expired or was not sent from the console. Reload the page and sign in again.' });
      return;
    }
    const retry = () => {
      const token = randomBytes(32).toString('base64url');
      ctx.cookies.set(LOGIN_COOKIE, token, { path: `${ADMIN_ROOT}/login`, httpOnly: true, sameSite: 'strict', secure: deps.production, overwrite: true });
      return token;
    };
    try {
      const staff = await deps.staffAccounts.signIn(
        {
          tenantId: null,
          actor: { type: 'anonymous', id: 'staff-sign-in' },
          correlationId: String(ctx.state.correlationId),
          causationId: String(ctx.state.requestId),
          now: new Date(),
          ip: ctx.ip,
          userAgent: ctx.get('User-Agent'),
        },
        { email: body.email ?? '', password: body.password ?? '', ...(body.code ? { code: body.code } : {}) },
      );
      await sessions.start(ctx, staff);
      ctx.cookies.set(LOGIN_COOKIE, null, { path: `${ADMIN_ROOT}/login` });
      ctx.state.logger.info({ staffId: staff.id, role: staff.role }, 'staff signed in');
      ctx.redirect(ADMIN_ROOT);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      ctx.status = err instanceof StaffSignInLockedError ? 429 : 401;
      if (err instanceof StaffSignInLockedError) ctx.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
      ctx.type = 'html';
      ctx.body = loginPage({
        action: `${ADMIN_ROOT}/login`,
        csrf: retry(),
        error: err instanceof StaffSignInLockedError ? 'Too many failed attempts. Try again later.' : 'Invalid email, password or code.',
        email: body.email ?? '',
      });
    }
  });
  const logout = async (ctx: Koa.Context) => {
    await sessions.end(ctx);
    ctx.redirect(`${ADMIN_ROOT}/login`);
  };

  // Everything else: a live session of a staff member who is still active, and for API calls and
  // state-changing requests, the session's CSRF token and no sign of another site.
  const guard: Koa.Middleware = async (ctx, next) => {
    const session = await sessions.load(ctx);
    const isApi = ctx.path.startsWith(`${ADMIN_ROOT}/api/`);
    const changesState = !['GET', 'HEAD', 'OPTIONS'].includes(ctx.method);
    const staff = session ? await deps.staffAccounts.current(session.adminUser.id) : null;
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
  own.get('/logout', guard, logout);
  own.post('/logout', guard, logout);
  own.get('/impersonations/:handle', guard, async (ctx) => {
    const key = `impersonation:${ctx.params.handle}`;
    const held = await deps.ephemeral.get(key);
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
    await deps.ephemeral.delete(key);
    ctx.body = impersonationPage(grant);
  });
  app.use(own.routes());
  app.use(own.allowedMethods());

  const adminRouter = new Router({ prefix: ADMIN_ROOT });
  adminRouter.use(guard);
  adminRouter.use((ctx, next) => currentRequest.run(ctx, next));
  app.use(async (ctx, next) => {
    // AdminJS's static assets are mounted on the app; they too are for signed-in staff only.
    if (ctx.path.startsWith(`${ADMIN_ROOT}/frontend/`)) {
      const session = await sessions.load(ctx);
      if (!session) {
        ctx.status = 401;
        return;
      }
    }
    await next();
  });
  AdminJSKoa.buildRouter(admin, app, adminRouter, { maxFileSize: 1024 * 1024, multiples: false });
  app.use(adminRouter.routes());
  app.use(adminRouter.allowedMethods());

  // Bundle our components now rather than on the first page view (AdminJS keeps the bundle on disk).
  const bundling = new AppController({ admin }, null).bundleComponents().catch((err: unknown) => deps.logger.error({ err }, 'could not bundle the console components'));

  return {
    app,
    admin,
    async close() {
      await bundling;
      deps.dashboard.close();
    },
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
      (ctx.state.logger as Logger | undefined ?? logger).error({ err }, 'console request failed');
      ctx.status = 500;
      if (ctx.path.startsWith(`${ADMIN_ROOT}/api/`)) ctx.body = { error: 'The console failed to answer; the error is in its log' };
      else {
        ctx.type = 'html';
        ctx.body = `<!doctype html><title>Error</title><p>The console failed to answer (request ${escapeHtml(String(ctx.state.requestId))}); the error is in its log.</p>`;
      }
    }
  };
}
