import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import type { SignedInStaff } from '../../command-api/staff/staff-accounts.ts';
import type { EphemeralStore } from '../../infra/ephemeral/ephemeral-store.ts';

export const SESSION_COOKIE = 'nf_staff_session';
/** Read by AdminJS's HTTP client (axios), which sends it back as X-XSRF-TOKEN on every same-origin call. */
export const CSRF_COOKIE = 'XSRF-TOKEN';
export const CSRF_HEADER = 'x-xsrf-token';

export interface StaffSession {
  /** What AdminJS calls the signed-in admin (its controllers read `ctx.session.adminUser`). */
  adminUser: SignedInStaff;
  csrf: string;
  createdAt: number;
}

export interface SessionOptions {
  /** Idle time after which a session ends. */
  idleMs: number;
  /** Longest a session lives, however active. */
  absoluteMs: number;
  /** Secure cookies (HTTPS only): on in production. */
  secure: boolean;
  path: string;
}

const hashOf = (id: string) => createHash('sha256').update(id).digest('hex');

/**
 * Server-side staff sessions. The cookie holds only a random 256-bit id (httpOnly, sameSite strict, secure in
 * production); the session itself lives in the ephemeral store (Redis, or the in-process stand-in) under the
 * id's hash, so a stolen store dump opens nothing and signing out ends the session everywhere. Hand-written
 * rather than koa-session: its external-store mode keeps the old id when a session is replaced, and a
 * sign-in must always get a fresh one (session fixation).
 */
export class StaffSessions {
  constructor(
    private readonly store: EphemeralStore,
    private readonly options: SessionOptions,
  ) {}

  async load(ctx: Koa.Context): Promise<StaffSession | null> {
    const id = ctx.cookies.get(SESSION_COOKIE);
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const stored = await this.store.get(`staff-session:${hashOf(id)}`);
    if (!stored) return null;
    const session = JSON.parse(stored) as StaffSession;
    if (Date.now() - session.createdAt > this.options.absoluteMs) {
      await this.store.delete(`staff-session:${hashOf(id)}`);
      return null;
    }
    // Sliding idle expiry, within the absolute lifetime.
    await this.store.set(`staff-session:${hashOf(id)}`, stored, this.ttl(session));
    return session;
  }

  /** A new session with a new id (never the one the browser came with) and a new CSRF token. */
  async start(ctx: Koa.Context, staff: SignedInStaff): Promise<StaffSession> {
    await this.end(ctx);
    const id = randomBytes(32).toString('base64url');
    const session: StaffSession = { adminUser: staff, csrf: randomBytes(32).toString('base64url'), createdAt: Date.now() };
    await this.store.set(`staff-session:${hashOf(id)}`, JSON.stringify(session), this.ttl(session));
    ctx.cookies.set(SESSION_COOKIE, id, this.cookie({ httpOnly: true }));
    ctx.cookies.set(CSRF_COOKIE, session.csrf, this.cookie({ httpOnly: false }));
    return session;
  }

  async end(ctx: Koa.Context): Promise<void> {
    const id = ctx.cookies.get(SESSION_COOKIE);
    if (id) await this.store.delete(`staff-session:${hashOf(id)}`);
    ctx.cookies.set(SESSION_COOKIE, null, this.cookie({ httpOnly: true }));
    ctx.cookies.set(CSRF_COOKIE, null, this.cookie({ httpOnly: false }));
  }

  /** Refreshes the CSRF cookie (a browser that lost it gets it back on its next page). */
  reissueCsrfCookie(ctx: Koa.Context, session: StaffSession): void {
    if (ctx.cookies.get(CSRF_COOKIE) !== session.csrf) ctx.cookies.set(CSRF_COOKIE, session.csrf, this.cookie({ httpOnly: false }));
  }

  private ttl(session: StaffSession): number {
    return Math.max(1, Math.min(this.options.idleMs, session.createdAt + this.options.absoluteMs - Date.now()));
  }

  private cookie(extra: { httpOnly: boolean }) {
    return { path: this.options.path, sameSite: 'strict' as const, secure: this.options.secure, overwrite: true, signed: false, ...extra };
  }
}

export function sameToken(expected: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether a request comes from the console's own pages. Browsers send Origin on every cross-origin request
 * and on same-origin POSTs, and Sec-Fetch-Site on all requests: a request that says it comes from another
 * site is refused before any token is even looked at.
 */
export function fromAnotherSite(ctx: Koa.Context): boolean {
  const site = ctx.get('Sec-Fetch-Site');
  if (site && site !== 'same-origin' && site !== 'none') return true;
  const origin = ctx.get('Origin');
  if (origin && origin !== 'null' && origin !== ctx.origin) return true;
  return origin === 'null';
}
