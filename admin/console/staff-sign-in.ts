import { randomBytes } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type Koa from 'koa';
import type { StaffAccounts } from '../../command-api/staff/staff-accounts.ts';
import { DomainError, SignInLockedError } from '../../domain/errors.ts';
import { loginPage } from './pages.ts';
import { fromAnotherSite, sameToken, type StaffSessions } from './staff-sessions.ts';

const LOGIN_COOKIE = 'nf_staff_login';

export interface SignInOptions {
  /** Where the console lives (/admin): the form posts to its /login. */
  root: string;
  staffAccounts: StaffAccounts;
  sessions: StaffSessions;
  /** Secure cookies: production. */
  secure: boolean;
}

/**
 * The console's sign-in form: GET shows it with a one-time token in a cookie (the form's CSRF protection,
 * before there is a session), POST checks the token and the credentials and starts a session.
 */
export function addSignInRoutes(router: Router, options: SignInOptions): void {
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });
  router.get('/login', async (ctx) => {
    ctx.type = 'html';
    ctx.body = loginPage({ action: `${options.root}/login`, csrf: newFormToken(ctx, options), error: null });
  });
  router.post('/login', form, (ctx) => signIn(ctx, options));
}

async function signIn(ctx: Koa.Context, options: SignInOptions): Promise<void> {
  const body = (ctx.request.body ?? {}) as Record<string, string | undefined>;
  const action = `${options.root}/login`;
  if (fromAnotherSite(ctx) || !sameToken(ctx.cookies.get(LOGIN_COOKIE) ?? '', body._csrf) || !ctx.cookies.get(LOGIN_COOKIE)) {
    ctx.status = 403;
    ctx.type = 'html';
    ctx.body = loginPage({ action, csrf: '', error: 'This form expired or was not sent from the console. Reload the page and sign in again.' });
    return;
  }
  try {
    const staff = await options.staffAccounts.signIn(
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
    await options.sessions.start(ctx, staff);
    ctx.cookies.set(LOGIN_COOKIE, null, { path: action });
    ctx.state.logger.info({ staffId: staff.id, role: staff.role }, 'staff signed in');
    ctx.redirect(options.root);
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    const locked = err instanceof SignInLockedError;
    ctx.status = locked ? 429 : 401;
    if (locked) ctx.set('Retry-After', String(err.retryAfterSeconds));
    ctx.type = 'html';
    ctx.body = loginPage({
      action,
      csrf: newFormToken(ctx, options),
      error: locked ? 'Too many failed attempts. Try again later.' : 'Invalid email, password or code.',
      email: body.email ?? '',
    });
  }
}

/** A fresh one-time token for the next submission of the form, set as its cookie. */
function newFormToken(ctx: Koa.Context, options: SignInOptions): string {
  const token = randomBytes(32).toString('base64url');
  ctx.cookies.set(LOGIN_COOKIE, token, {
    path: `${options.root}/login`,
    httpOnly: true,
    sameSite: 'strict',
    secure: options.secure,
    overwrite: true,
  });
  return token;
}
