import { randomUUID } from 'node:crypto';
import type { SignedInStaff } from '../../command-api/staff/staff-accounts.ts';
import type { StaffRole } from '../../domain/staff/staff-permissions.ts';
import { commandCoreModule } from '../../command-api/module.ts';
import { staffAccountsModule } from '../../command-api/staff/module.ts';
import type { StaffAccounts } from '../../command-api/staff/staff-accounts.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { TestSystem } from './http.ts';
import { withServices } from './services.ts';

/** Staff accounts as the CLI makes them (the same modules), for `work`. */
export function withStaffAccounts<T>(system: TestSystem, work: (accounts: StaffAccounts) => Promise<T>): Promise<T> {
  return withServices(system, [commandCoreModule, staffAccountsModule], async (services) =>
    work(await services.get<StaffAccounts>(TOKENS.StaffAccounts)),
  );
}

export const STAFF_PASSWORD = 'staff correct horse battery';

/** A staff account made the way the CLI makes one (same composition), for suites that need several. */
export async function createStaff(system: TestSystem, role: StaffRole): Promise<SignedInStaff & { password: string }> {
  const id = randomUUID();
  const staff = await withStaffAccounts(system, (accounts) =>
    accounts.create(
      { tenantId: null, actor: { type: 'system', id: 'test' }, correlationId: id, causationId: id, now: new Date() },
      { email: `${role}-${id.slice(0, 8)}@staff.nexusflow.test`, password: STAFF_PASSWORD, name: `A ${role}`, role },
    ),
  );
  return { ...staff, password: STAFF_PASSWORD };
}

export interface ConsoleReply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/**
 * A browser-like client of the console over plain HTTP: keeps its cookies, signs in through the login form
 * (with its CSRF field), and sends the XSRF token header on API calls as AdminJS's client does. Options let
 * a test leave the token out or claim another origin, as a forger would.
 */
export class ConsoleClient {
  private readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  get csrfToken(): string | undefined {
    return this.cookies.get('XSRF-TOKEN');
  }

  async signIn(email: string, password: string, code?: string): Promise<ConsoleReply> {
    const page = await this.request('GET', '/admin/login');
    const token = /name="_csrf" value="([^"]*)"/.exec(page.text)?.[1] ?? '';
    const form = new URLSearchParams({ _csrf: token, email, password, ...(code ? { code } : {}) });
    return this.request('POST', '/admin/login', { form, headers: { Origin: this.baseUrl } });
  }

  /** An AdminJS API call (GET or POST) as the console's own pages make it. */
  api(
    method: 'GET' | 'POST',
    path: string,
    options: { form?: URLSearchParams; withToken?: boolean; headers?: Record<string, string> } = {},
  ): Promise<ConsoleReply> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.withToken !== false && this.csrfToken) headers['X-XSRF-TOKEN'] = this.csrfToken;
    return this.request(method, `/admin/api${path}`, { ...(options.form ? { form: options.form } : {}), headers });
  }

  async request(method: string, path: string, options: { form?: URLSearchParams; headers?: Record<string, string> } = {}): Promise<ConsoleReply> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookies.size > 0) headers.Cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (options.form) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      redirect: 'manual',
      ...(options.form ? { body: options.form.toString() } : {}),
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, ...value] = pair!.split('=');
      const joined = value.join('=');
      if (joined === '') this.cookies.delete(name!.trim());
      else this.cookies.set(name!.trim(), joined);
    }
    const text = await response.text();
    let body: unknown = text;
    if ((response.headers.get('content-type') ?? '').includes('json') && text) body = JSON.parse(text);
    return { status: response.status, headers: response.headers, body, text };
  }
}
