import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ContainerModule } from 'inversify';
import { adminModules } from '../../admin/modules.ts';
import { commandApiModules } from '../../command-api/modules.ts';
import { migrateDatabase, startRole, type Inspection, type StartedProcess } from '../../infra/di/container.ts';
import { httpModule } from '../../infra/http/module.ts';
import { projectorModules } from '../../projectors/modules.ts';
import { queryApiModules } from '../../query-api/modules.ts';
import { readOutbox, type StoredEmail } from '../../infra/mail/outbox-mailer.ts';
import { eventually } from './events.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
  contentType: string;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  /** Sent as-is instead of JSON-encoding `body`. */
  rawBody?: string;
  headers?: Record<string, string>;
}

/** A small HTTP client for tests: JSON in, JSON (or problem+json) out, status always visible. */
export class HttpClient {
  constructor(readonly baseUrl: string) {}

  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['Content-Type'] ??= 'application/json';
    }
    const response = await fetch(this.baseUrl + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    let parsed: unknown = text;
    // JSON documents only: JSON lines (application/x-ndjson) stay text for the caller to split.
    if (/application\/(?:[\w.-]+\+)?json\b/.test(contentType) && text) parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed as T, contentType };
  }

  get<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('GET', path, options);
  }
  post<T = any>(path: string, body?: unknown, options: RequestOptions = {}) {
    return this.request<T>('POST', path, { ...options, body });
  }
  patch<T = any>(path: string, body?: unknown, options: RequestOptions = {}) {
    return this.request<T>('PATCH', path, { ...options, body });
  }
  put<T = any>(path: string, body?: unknown, options: RequestOptions = {}) {
    return this.request<T>('PUT', path, { ...options, body });
  }
  delete<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('DELETE', path, options);
  }
}

/** The emails the system sent, read from its outbox directory as a person would read their inbox. */
export class Mailbox {
  constructor(readonly directory: string) {}

  async all(to?: string): Promise<StoredEmail[]> {
    const emails = await readOutbox(this.directory);
    return to ? emails.filter((email) => email.to === to.toLowerCase()) : emails;
  }

  /** The newest email of `template` to `to`, waiting for it (background work sends some). */
  async latest(to: string, template: string, after = 0): Promise<StoredEmail> {
    const found = await eventually(
      async () => (await this.all(to)).filter((email) => email.template === template),
      (emails) => emails.length > after,
    );
    return found[found.length - 1]!;
  }

  /** The token of the link in an email. */
  static tokenIn(email: StoredEmail): string {
    const match = /[?&]token=([^\s&]+)/.exec(email.text);
    if (!match) throw new Error(`no link with a token in: ${email.text}`);
    return decodeURIComponent(match[1]!);
  }
}

export interface TestSystem {
  http: HttpClient;
  process: TestProcess;
  database: TestDatabase;
  mailbox: Mailbox;
  stop(): Promise<void>;
}

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
/** Opens /health/ready?verbose (the operator's detailed health) in test systems. */
export const TEST_OPERATOR_TOKEN = 'test-operator-0123456789abcdef0123456789abcdef';
/** The operator's view of a process's health: every check with its detail. */
export const operatorHealth = { path: '/health/ready?verbose', headers: { Authorization: `Bearer ${TEST_OPERATOR_TOKEN}` } };

/** Which roles a test system runs in its one process (all of them, or e.g. no projectors). */
export interface ProcessParts {
  commands: boolean;
  queries: boolean;
  projectors: boolean;
  admin?: boolean;
}

/** A started process, and what its tests may look at: the adapters it opened (never its container). */
export interface TestProcess extends StartedProcess {
  platform: Inspection;
}

/** The modules of the roles a test system runs, as the roots list them (plus the HTTP server). */
export function modulesOf(parts: ProcessParts): ContainerModule[] {
  return [
    ...(parts.commands ? commandApiModules : []),
    ...(parts.queries ? queryApiModules : []),
    ...(parts.projectors ? projectorModules : []),
    ...(parts.admin ? adminModules : []),
    httpModule('all'),
  ];
}

/** The environment every test system shares (the real Redis, cheap password hashing, no rate limits in the way). */
export function testEnvironment(databaseUrl: string, outbox: string, name = new URL(databaseUrl).pathname.slice(1)): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: databaseUrl,
    // The real Redis (sessions' revocation marks, and what later issues keep there).
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
    // Each system its own keys, as separate deployments sharing one Redis would have.
    REDIS_KEY_PREFIX: `nf-test-${name}:`,
    JWT_SECRET: TEST_JWT_SECRET,
    OPERATOR_TOKEN: TEST_OPERATOR_TOKEN,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // The cheapest scrypt cost the configuration accepts: tests register many users.
    PASSWORD_HASH_COST: '10',
    DB_POOL_SIZE: '8',
    MAIL_OUTBOX_DIR: outbox,
    // Suites send hundreds of requests from one address; the rate-limit suite sets its own limits.
    RATE_LIMIT_PER_IP: '1000000',
    RATE_LIMIT_PER_TENANT: '1000000',
    MAIL_MAX_PER_ADDRESS_PER_HOUR: '1000',
  };
}

/**
 * The whole system in this process on a fresh database of the real PostgreSQL server, on a free port, its
 * schema migrated first as an operator does (`nexusflow migrate`). `parts` chooses which roles run (e.g. no
 * projectors, to see read-your-writes time out); `observers` are modules that watch what is built.
 */
export async function startTestSystem(
  parts: ProcessParts = { commands: true, queries: true, projectors: true },
  env: NodeJS.ProcessEnv = {},
  observers: ContainerModule[] = [],
): Promise<TestSystem> {
  const database = await createTestDatabase('nf_e2e');
  try {
    const system = await startTestSystemOn(database.url, env, parts, observers, database.name);
    return {
      ...system,
      database,
      async stop() {
        await system.stop();
        await database.drop();
      },
    };
  } catch (err) {
    await database.drop();
    throw err;
  }
}

/** The same system on a database someone else made (and will drop): the bench's. */
export async function startTestSystemOn(
  databaseUrl: string,
  env: NodeJS.ProcessEnv = {},
  parts: ProcessParts = { commands: true, queries: true, projectors: true },
  observers: ContainerModule[] = [],
  name = new URL(databaseUrl).pathname.slice(1),
): Promise<Omit<TestSystem, 'database'>> {
  const outbox = await mkdtemp(path.join(os.tmpdir(), 'nf-outbox-'));
  const environment = { ...testEnvironment(databaseUrl, outbox, name), ...env };
  try {
    await migrateDatabase(environment);
    return await started(await startRole('all', modulesOf(parts), environment, { observers }), outbox);
  } catch (err) {
    await rm(outbox, { recursive: true, force: true });
    throw err;
  }
}

async function started(process: StartedProcess, outbox: string) {
  const testProcess: TestProcess = Object.assign(process, { platform: await process.inspect() });
  return {
    http: new HttpClient(`http://127.0.0.1:${process.server.port}`),
    process: testProcess,
    mailbox: new Mailbox(outbox),
    async stop() {
      await process.stop();
      await rm(outbox, { recursive: true, force: true });
    },
  };
}

/** The whole system in this process on the embedded default (PGlite in memory, in-process stand-ins). */
export interface EmbeddedTestSystem {
  http: HttpClient;
  process: TestProcess;
  mailbox: Mailbox;
  stop(): Promise<void>;
}

export async function startEmbeddedTestSystem(env: NodeJS.ProcessEnv = {}): Promise<EmbeddedTestSystem> {
  const outbox = await mkdtemp(path.join(os.tmpdir(), 'nf-outbox-'));
  try {
    const environment = {
      NEXUSFLOW_DATA_DIR: `memory://embedded-${Date.now().toString(36)}`,
      OPERATOR_TOKEN: TEST_OPERATOR_TOKEN,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      PASSWORD_HASH_COST: '10',
      MAIL_OUTBOX_DIR: outbox,
      RATE_LIMIT_PER_IP: '1000000',
      RATE_LIMIT_PER_TENANT: '1000000',
      MAIL_MAX_PER_ADDRESS_PER_HOUR: '1000',
      ...env,
    };
    // The all-in-one process on the embedded database migrates its own schema, as `npm start` does.
    return await started(await startRole('all', modulesOf({ commands: true, queries: true, projectors: true }), environment), outbox);
  } catch (err) {
    await rm(outbox, { recursive: true, force: true });
    throw err;
  }
}

export interface Account {
  accessToken: string;
  refreshToken: string;
  organizationId: string;
  userId: string;
  /** Position of the registration: send as X-Min-Position to read the account back at once. */
  position: string;
  email: string;
  password: string;
}

let accounts = 0;

export function uniqueEmail(label = 'user'): string {
  return `${label}${++accounts}-${Date.now().toString(36)}@example.com`;
}

/**
 * Signs up as a person does: register, open the confirmation email, follow its link. Returns the signed-in
 * owner of the new organization.
 */
export async function registerAccount(system: Pick<TestSystem, 'http' | 'mailbox'>, organizationName = 'Acme'): Promise<Account> {
  const email = uniqueEmail('owner');
  const password = 'correct horse battery staple';
  const reply = await system.http.post('/auth/register', { organizationName, name: 'Owner', email, password });
  if (reply.status !== 202) throw new Error(`register failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  const confirmation = await system.mailbox.latest(email, 'signup-confirmation');
  const verified = await system.http.post('/auth/verify-email', { token: Mailbox.tokenIn(confirmation) });
  if (verified.status !== 201) throw new Error(`verify-email failed: ${verified.status} ${JSON.stringify(verified.body)}`);
  return { ...verified.body, email, password };
}

/**
 * Invites someone into `owner`'s organization with a role, accepts as them, and returns them signed in.
 */
export async function inviteMember(system: Pick<TestSystem, 'http' | 'mailbox'>, owner: Account, role: string): Promise<Account> {
  const email = uniqueEmail(role);
  const password = 'correct horse battery staple';
  const invited = await system.http.post('/invitations', { email, role }, { token: owner.accessToken });
  if (invited.status !== 201) throw new Error(`invite failed: ${invited.status} ${JSON.stringify(invited.body)}`);
  const invitation = await system.mailbox.latest(email, 'invitation');
  const accepted = await system.http.post('/invitations/accept', { token: Mailbox.tokenIn(invitation), name: `A ${role}`, password });
  if (accepted.status !== 201) throw new Error(`accept failed: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  return { ...accepted.body, email, password };
}
