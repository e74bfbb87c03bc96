import { startProcess, type ProcessParts, type StartedProcess } from '../../infra/compose.ts';
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
    if (contentType.includes('json') && text) parsed = JSON.parse(text);
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
  delete<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('DELETE', path, options);
  }
}

export interface TestSystem {
  http: HttpClient;
  process: StartedProcess;
  database: TestDatabase;
  stop(): Promise<void>;
}

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

/**
 * The whole system in this process on a fresh database of the real PostgreSQL server, on a free port.
 * `parts` chooses which roles run (e.g. no projectors, to see read-your-writes time out).
 */
export async function startTestSystem(
  parts: ProcessParts = { commands: true, queries: true, projectors: true },
  env: NodeJS.ProcessEnv = {},
): Promise<TestSystem> {
  const database = await createTestDatabase('nf_e2e');
  let started: StartedProcess;
  try {
    started = await startProcess('all', parts, {
      DATABASE_URL: database.url,
      // The real Redis (sessions' revocation marks, and what later issues keep there).
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      JWT_SECRET: TEST_JWT_SECRET,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      // The cheapest scrypt cost the configuration accepts: tests register many users.
      PASSWORD_HASH_COST: '10',
      DB_POOL_SIZE: '8',
      ...env,
    });
  } catch (err) {
    await database.drop();
    throw err;
  }
  return {
    http: new HttpClient(`http://127.0.0.1:${started.server.port}`),
    process: started,
    database,
    async stop() {
      await started.stop();
      await database.drop();
    },
  };
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

/** Registers a new organization with its owner and returns the signed-in account. */
export async function registerAccount(http: HttpClient, organizationName = 'Acme'): Promise<Account> {
  const email = `owner${++accounts}-${Date.now().toString(36)}@example.com`;
  const password = 'correct horse battery staple';
  const reply = await http.post('/auth/register', { organizationName, name: 'Owner', email, password });
  if (reply.status !== 201) throw new Error(`register failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { ...reply.body, email, password };
}
