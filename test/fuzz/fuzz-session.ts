import { MAX_PROBLEM_BYTES } from '../../infra/http/problem.ts';
import type { RecordedEvent } from '../../domain/events.ts';
import { build, describeRequest, operationsOf, plan, type Identities, type Operation, type Outcome, type PlannedRequest } from './openapi-fuzzer.ts';
import { registerAccount, inviteMember, type Account, type HttpClient, type Mailbox } from '../support/http.ts';

/** A system to fuzz: its HTTP client and mailbox (for signing up), and a way to read its whole log. */
export interface FuzzTarget {
  http: HttpClient;
  mailbox: Mailbox;
  /** Events after a position (null: from the start), oldest first, a page at a time. */
  readLog(after: string | null): Promise<RecordedEvent[]>;
}

/** The tenant under fire, with one entity of each kind for path parameters. */
export interface FuzzedTenant {
  owner: Account;
  apiKey: string;
  ids: { contact: string; workflow: string; execution: string; member: string; apiKey: string; invitation: string };
}

/**
 * Signs a tenant up and gives it one of everything a path can name. The owner's password differs from every
 * password in the documented examples, so that no fuzzed request can change it.
 */
export async function prepareTenant(target: FuzzTarget): Promise<FuzzedTenant> {
  const owner = await registerAccount(target, 'Fuzzed Org');
  const http = target.http;
  const as = { token: owner.accessToken };
  const must = async <T>(reply: Promise<{ status: number; body: T }>, status: number, what: string): Promise<T> => {
    const r = await reply;
    if (r.status !== status) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const contact = await must(
    http.post<{ id: string }>('/contacts', { email: `fuzz-${Date.now()}@example.com`, firstName: 'Fuzz', tags: ['vip'] }, as),
    201,
    'contact',
  );
  const openapi = await must(http.get('/openapi.json'), 200, 'openapi');
  const example = openapi.paths['/workflows'].post.requestBody.content['application/json'].example;
  const workflow = await must(http.post<{ id: string }>('/workflows', example, as), 201, 'workflow');
  const run = await must(http.post<{ executionId: string }>(`/workflows/${workflow.id}/run`, { contactId: contact.id }, as), 202, 'run');
  const key = await must(http.post<{ id: string; key: string }>('/api-keys', { name: 'fuzz' }, as), 201, 'api key');
  const member = await inviteMember(target, owner, 'member');
  const invitation = await must(
    http.post<{ id: string }>('/invitations', { email: `invitee-${Date.now()}@example.com`, role: 'viewer' }, as),
    201,
    'invitation',
  );
  return {
    owner,
    apiKey: key.key,
    ids: { contact: contact.id, workflow: workflow.id, execution: run.executionId, member: member.userId, apiKey: key.id, invitation: invitation.id },
  };
}

export interface FuzzReport {
  seed: number;
  requests: number;
  seconds: number;
  statuses: Record<string, number>;
  /** Requests whose answer broke a rule, described for a human, with the seed to replay them. */
  failures: string[];
  outcomes: Outcome[];
}

/** The operations that end the caller's own session when they succeed: sent with a session kept for them. */
const SESSION_ENDING = new Set(['logout']);

/**
 * Sends `count` planned requests (seeded), `concurrency` at a time, and checks every answer as it comes:
 * no 5xx (nor a dropped connection), every 4xx a problem+json document no larger than MAX_PROBLEM_BYTES.
 * Each request carries its own X-Request-Id, which the system records as the correlation id of whatever
 * the request appends: checkNothingWrittenByRefusals uses it.
 */
export async function fuzz(
  target: FuzzTarget,
  tenant: FuzzedTenant,
  options: { seed: number; count: number; concurrency: number },
): Promise<FuzzReport> {
  const openapi = (await target.http.get('/openapi.json')).body;
  const operations = operationsOf(openapi);
  const planned = plan(operations, options.seed, options.count);
  let ownerToken = tenant.owner.accessToken;
  let refreshToken = tenant.owner.refreshToken;
  // Logout is fuzzed with a session of its own (one sign-in): the owner's stays alive for everything else.
  const spare = await target.http.post('/auth/login', { email: tenant.owner.email, password: tenant.owner.password });
  const spareToken: string = spare.body.accessToken;
  let renewing: Promise<void> | null = null;
  const renew = () =>
    (renewing ??= (async () => {
      const reply = await target.http.post('/auth/refresh', { refreshToken });
      if (reply.status !== 200)
        throw new Error(`the fuzzed tenant's session ended and could not be renewed: ${reply.status} ${JSON.stringify(reply.body)}`);
      ownerToken = reply.body.accessToken;
      refreshToken = reply.body.refreshToken;
    })().finally(() => (renewing = null)));

  const pathIds = (operation: Operation): Record<string, string> => {
    const { ids } = tenant;
    const first = operation.path.split('/')[1];
    const id =
      first === 'contacts'
        ? ids.contact
        : first === 'workflows'
          ? ids.workflow
          : first === 'users'
            ? ids.member
            : first === 'api-keys'
              ? ids.apiKey
              : first === 'invitations'
                ? ids.invitation
                : ids.contact;
    return { id, execId: ids.execution, type: 'contact' };
  };

  const outcomes: Outcome[] = [];
  const failures: string[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < planned.length) {
      const index = next++;
      const request = planned[index]!;
      const ids: Identities = {
        token: () => (SESSION_ENDING.has(request.operation.operationId) ? spareToken : ownerToken),
        apiKey: tenant.apiKey,
        pathParams: pathIds,
      };
      const requestId = `fuzz-${options.seed}-${index}`;
      const built = build(request, ids, requestId);
      const outcome = await send(target.http.baseUrl, built, requestId, request);
      outcomes.push(outcome);
      statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
      const broken = problemWith(outcome);
      if (broken) failures.push(`#${index} ${describeRequest(request)} → ${broken}`);
      if (outcome.status === 401 && built.usedOwnerToken && !SESSION_ENDING.has(request.operation.operationId)) {
        const me = await target.http.get('/auth/me', { token: ownerToken });
        if (me.status === 401) await renew();
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seed: options.seed, requests: planned.length, seconds, statuses, failures, outcomes };
}

async function send(baseUrl: string, built: ReturnType<typeof build>, requestId: string, request: PlannedRequest): Promise<Outcome> {
  const base = { requestId, operationId: request.operation.operationId, method: built.method, url: built.url, mutation: request.mutation };
  try {
    const response = await fetch(baseUrl + built.url, {
      method: built.method,
      headers: built.headers,
      ...(built.body !== undefined ? { body: built.body } : {}),
      redirect: 'manual',
    });
    const body = await response.text();
    return {
      ...base,
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      bytes: Buffer.byteLength(body),
      body: body.length <= 64_000 ? body : body.slice(0, 2_000),
    };
  } catch (err) {
    return { ...base, status: 0, contentType: '', bytes: 0, body: `request failed: ${(err as Error).message} ${String((err as Error).cause ?? '')}` };
  }
}

/** What is wrong with an answer, or null. */
function problemWith(outcome: Outcome): string | null {
  if (outcome.status === 0) return outcome.body;
  if (outcome.status >= 500) return `${outcome.status} ${outcome.body.slice(0, 300)}`;
  if (outcome.status < 400) return null;
  if (!/^application\/problem\+json/.test(outcome.contentType)) return `${outcome.status} answered as ${outcome.contentType || 'no content type'}`;
  if (outcome.bytes > MAX_PROBLEM_BYTES) return `${outcome.status} answer of ${outcome.bytes} bytes (the cap is ${MAX_PROBLEM_BYTES})`;
  try {
    const problem = JSON.parse(outcome.body) as { status?: unknown; title?: unknown };
    if (problem.status !== outcome.status || typeof problem.title !== 'string')
      return `${outcome.status} problem without its status and title: ${outcome.body.slice(0, 200)}`;
  } catch {
    return `${outcome.status} problem that is not JSON: ${outcome.body.slice(0, 200)}`;
  }
  return null;
}

/**
 * Nothing half-written: a request the system refused (4xx) appended no event. Reads the whole log and finds
 * every event recorded with a fuzzed request's id as its correlation id.
 */
export async function writesOfRefusedRequests(target: FuzzTarget, report: FuzzReport): Promise<string[]> {
  const refused = new Map(report.outcomes.filter((o) => o.status >= 400).map((o) => [o.requestId, o]));
  const found: string[] = [];
  let after: string | null = null;
  for (;;) {
    const events = await target.readLog(after);
    if (events.length === 0) break;
    for (const event of events) {
      const outcome = refused.get(event.metadata.correlationId);
      if (outcome)
        found.push(`${outcome.method} ${outcome.url.slice(0, 120)} answered ${outcome.status} but appended ${event.type} to ${event.streamId}`);
    }
    after = events[events.length - 1]!.position;
  }
  return found;
}
