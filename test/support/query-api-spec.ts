import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ContainerModule, type interfaces } from 'inversify';
import type { Permission, Role } from '../../domain/access/permissions.ts';
import { apiKeyDecider, apiKeyStream } from '../../domain/api-keys/api-key.ts';
import { contactFieldsOf, type NewContact } from '../../domain/contacts/fields.ts';
import { contactDecider } from '../../domain/contacts/decide.ts';
import { contactStream } from '../../domain/contacts/contact.ts';
import type { Actor } from '../../domain/events.ts';
import { organizationDecider, organizationStream } from '../../domain/organizations/organization.ts';
import { sessionDecider, sessionStream } from '../../domain/sessions/session.ts';
import { userDecider, userStream } from '../../domain/users/user.ts';
import type { WorkflowDefinition } from '../../domain/workflows/definition.ts';
import { executionDecider, executionStream } from '../../domain/workflows/execution.ts';
import { workflowDecider, workflowStream } from '../../domain/workflows/workflow.ts';
import { JwtTokens } from '../../infra/auth/jwt-tokens.ts';
import { composeApiKey, newSecret, sha256 } from '../../infra/auth/secret-tokens.ts';
import { loadConfig, type Config } from '../../infra/config/config.ts';
import { migrateDatabase, startRole, type StartedProcess } from '../../infra/di/container.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { EventStore } from '../../infra/eventstore/event-store.ts';
import { httpModule } from '../../infra/http/module.ts';
import { CHANNEL_CHECKPOINTS, type Notifications } from '../../infra/notifications/notifications.ts';
import type { Database } from '../../infra/postgres/module.ts';
import type { CheckpointWatcher } from '../../infra/readmodels/checkpoint-watcher.ts';
import type { ReadModelGenerations } from '../../infra/readmodels/generations.ts';
import { projectionModules } from '../../projectors/modules.ts';
import type { GlobalEventLog } from '../../projectors/ports.ts';
import { ProjectorHost } from '../../projectors/projector-host.ts';
import type { RebuildableReadModel } from '../../projectors/rebuild/ports.ts';
import type { ProjectionRunnerOptions } from '../../projectors/runner/projection-runner.ts';
import type { Projection } from '../../projectors/runner/projection.ts';
import { queryApiModules } from '../../query-api/modules.ts';
import { eventually } from './events.ts';
import { HttpClient, testEnvironment, type Reply } from './http.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';
import { at, entityStream, type Fact } from './projection-spec.ts';
import { openServices, type Services } from './services.ts';
import { silentLogger } from './stores.ts';

/**
 * The query API's routes over HTTP, on read models its real projections built from given facts:
 *
 *   const api = queryApiSpec();                             // inside a describe: one database, one query API
 *   const acme = tenant('Acme');
 *   const ada = acme.contact({ email: 'ada@example.com' }, 1);
 *   const position = await api.given(acme.signup, ada.facts); // appended, then projected
 *   const reply = await api.get(acme.owner, `/contacts/${ada.id}`, { 'X-Min-Position': position });
 *
 * The QUERY API ROLE runs alone (`startRole('query-api', [...queryApiModules, httpModule('query-api')])`), on
 * a fresh database migrated as an operator does, so no command handler exists in it. Its read models are
 * filled as the projectors process fills them: the test's own container (openServices) builds the projections
 * of the projectors' role (projectors/modules.ts `projectionModules`: every read model, search and analytics
 * in their served generation), and `project()` runs them in the real ProjectorHost (ProjectionRunner: batch and
 * checkpoint in one transaction) until they have applied the head of the log, then stops them. Checkpoints
 * reach the query API as they reach a separate process: NOTIFY and its table, so X-Min-Position behaves as in
 * production. Facts are appended through the same event-store layers the processes use (hash chain, sealing
 * of personal data) and are made by the domain's deciders (`tenant()` below, projection-spec's entityStream).
 *
 * Data is never reset: each case makes organizations of its own (ids never cross tenants), so cases do not
 * see each other's rows.
 */

/** Someone of an organization, as an access token names them. */
export interface Member {
  organizationId: string;
  userId: string;
  role: Role;
  email: string;
}

export interface QueryApi {
  /** A client of the query API that sends no credentials of its own. */
  readonly http: HttpClient;
  readonly config: Config;
  /** Appends facts in this order (arrays are spread); answers the position of the last one. */
  append(...facts: (Fact | Fact[])[]): Promise<string>;
  /** Runs every projection until it has applied the head of the log; fails if one parked an event. */
  project(): Promise<void>;
  /** append, then project: the read models hold the facts when it resolves. Answers the last position. */
  given(...facts: (Fact | Fact[])[]): Promise<string>;
  /** The newest position of the log. */
  head(): Promise<string>;
  /** An access token for `member`, minted with the process's signing secret (a fresh session). */
  tokenFor(member: Pick<Member, 'organizationId' | 'userId' | 'role'>): Promise<string>;
  /** GET `path` as `member` (one token per member), with extra headers. */
  get<T = any>(member: Member, path: string, headers?: Record<string, string>): Promise<Reply<T>>;
  /** Whether the started role's modules bound `token` (seen by an observer module: nothing replaced). */
  roleBinds(token: symbol): boolean;
}

/**
 * The store as the runners read it, but a wait for appends that starts after a runner was told to stop
 * returns at once (as in projection-spec: otherwise each stop can wait out an idle poll).
 */
function stoppable(store: EventStore): GlobalEventLog {
  return {
    readAll: (options) => store.readAll(options),
    readPage: (options) => store.readPage(options),
    headPosition: () => store.headPosition(),
    isValidPosition: (value) => store.isValidPosition(value),
    comparePositions: (a, b) => store.comparePositions(a, b),
    waitForAppends: (after, timeoutMs, signal) => (signal.aborted ? Promise.resolve() : store.waitForAppends(after, timeoutMs, signal)),
  };
}

/**
 * A query API for the specs of a describe (hooks: started before its first case, stopped and its database
 * dropped after the last). `env` adds to the test environment (test/support/http.ts testEnvironment).
 * X-Min-Position waits up to 5 s here (READ_YOUR_WRITES_TIMEOUT_MS), room for a case to project meanwhile
 * on a busy machine; a spec of the 503 sets less.
 */
export function queryApiSpec(options: { env?: NodeJS.ProcessEnv } = {}): QueryApi {
  let database: TestDatabase | null = null;
  let outbox: string | null = null;
  let queryApi: StartedProcess | null = null;
  let services: Services | null = null;
  let client: HttpClient | null = null;
  let tokens: JwtTokens | null = null;
  let isBound: interfaces.IsBound | null = null;
  const memberTokens = new Map<string, Promise<string>>();

  // Loaded after the role's modules: it sees what they bound and binds nothing itself.
  const observer = new ContainerModule((_bind, _unbind, bound) => {
    isBound = bound;
  });

  before(async function () {
    this.timeout(120_000);
    database = await createTestDatabase('nf_test_query');
    outbox = await mkdtemp(path.join(os.tmpdir(), 'nf-outbox-'));
    const env: NodeJS.ProcessEnv = { ...testEnvironment(database.url, outbox, database.name), READ_YOUR_WRITES_TIMEOUT_MS: '5000', ...options.env };
    await migrateDatabase(env);
    queryApi = await startRole('query-api', [...queryApiModules, httpModule('query-api')], env, { observers: [observer] });
    client = new HttpClient(`http://127.0.0.1:${queryApi.server.port}`);
    tokens = new JwtTokens(env.JWT_SECRET!, queryApi.config.ACCESS_TOKEN_TTL_SECONDS, queryApi.config.REFRESH_TOKEN_TTL_SECONDS);
    // The test's own container, over the configuration a projectors process would have.
    services = openServices({ process: { config: loadConfig(env, 'projectors') } }, projectionModules);
  });

  after(async function () {
    this.timeout(60_000);
    await services?.close();
    await queryApi?.stop();
    await database?.drop();
    if (outbox) await rm(outbox, { recursive: true, force: true });
  });

  const started = () => {
    if (!queryApi || !services || !client || !tokens)
      throw new Error('queryApiSpec(...) must be called inside a describe (its hooks start the query API)');
    return { queryApi, services, client, tokens };
  };

  async function append(...facts: (Fact | Fact[])[]): Promise<string> {
    const store = await started().services.get<EventStore>(TOKENS.EventStore);
    let position: string | null = null;
    for (const { id, streamId, event, metadata } of facts.flat()) {
      ({ position } = await store.append(streamId, [{ id, type: event.type, version: event.version, data: event.data, metadata }], 'any'));
    }
    return position ?? (await head());
  }

  async function tokenFor(member: Pick<Member, 'organizationId' | 'userId' | 'role'>): Promise<string> {
    const issued = await started().tokens.issue({ ...member, sessionId: randomUUID() });
    return issued.accessToken;
  }

  async function head(): Promise<string> {
    const store = await started().services.get<EventStore>(TOKENS.EventStore);
    return (await store.headPosition()) ?? '0';
  }

  async function project(): Promise<void> {
    const { services } = started();
    const [store, orm, watcher, notifications, generations, database] = await Promise.all([
      services.get<EventStore>(TOKENS.EventStore),
      services.get<MikroORM>(TOKENS.Orm),
      services.get<CheckpointWatcher>(TOKENS.CheckpointWatcher),
      services.get<Notifications>(TOKENS.Notifications),
      services.get<ReadModelGenerations>(TOKENS.Generations),
      services.get<Database>(TOKENS.Database),
    ]);
    const target = await store.headPosition();
    if (target === null) return;
    const projections = await services.all<Projection>(TOKENS.Projections);
    const rebuildable = await services.all<RebuildableReadModel>(TOKENS.RebuildableReadModels);
    // As projectorCoreModule wires them: every checkpoint announced here (the search projection waits on the
    // workflows read model) and, when only skipped, to other processes (the query API) by NOTIFY.
    const runnerOptions: ProjectionRunnerOptions = {
      batchSize: 1_000,
      liveDelayMs: 0,
      onCheckpoint: (projection, position, stored) => {
        watcher.announce(projection, position);
        if (!stored) notifications.notify(CHANNEL_CHECKPOINTS, JSON.stringify({ projection, position })).catch(() => undefined);
      },
    };
    const log = stoppable(store);
    const hosts = [
      new ProjectorHost(projections, log, orm, silentLogger, runnerOptions),
      ...rebuildable.map((model) => new ProjectorHost([model.projection(generations.generation(model.name))], log, orm, silentLogger, runnerOptions)),
    ];
    const parkedBefore = await parkedCount(database);
    try {
      for (const host of hosts) await host.start();
      await eventually(
        () => hosts.flatMap((host) => host.statuses()),
        (statuses) => statuses.every((status) => store.comparePositions(status.position, target) >= 0),
        30_000,
      );
    } finally {
      await Promise.all(hosts.map((host) => host.stop()));
    }
    if ((await parkedCount(database)) > parkedBefore) {
      const { rows } = await database.pool.query('SELECT projection, event_type, error FROM parked_events ORDER BY id DESC LIMIT 5');
      throw new Error(`a projection parked events: ${JSON.stringify(rows)}`);
    }
  }

  return {
    get http() {
      return started().client;
    },
    get config() {
      return started().queryApi.config;
    },
    append,
    project,
    head,
    async given(...facts) {
      const position = await append(...facts);
      await project();
      return position;
    },
    tokenFor,
    async get(member, path, headers = {}) {
      const key = `${member.organizationId}/${member.userId}/${member.role}`;
      let token = memberTokens.get(key);
      if (!token) memberTokens.set(key, (token = tokenFor(member)));
      return started().client.get(path, { token: await token, headers });
    },
    roleBinds(token) {
      if (!isBound) throw new Error('the query API has not been started');
      return isBound(token);
    },
  };
}

async function parkedCount(database: Database): Promise<number> {
  const { rows } = await database.pool.query<{ count: string }>('SELECT count(*) FROM parked_events');
  return Number(rows[0]!.count);
}

/** A manual workflow of one email step (`subject`), valid as the command side checks definitions. */
export function manualWorkflow(subject = 'Welcome'): WorkflowDefinition {
  return {
    trigger: { type: 'manual' },
    settings: { timezone: 'UTC', exitOn: ['replied'], exitAction: 'stop', mailbox: 'sales@acme.test' },
    steps: [{ id: 'hello', type: 'send_email', config: { subject, body: 'Hi {{contact.firstName}}' }, next: null }],
  };
}

/**
 * An organization's facts as the command side records them, each made by its entity's decider: the sign-up
 * (organization and owner), members, contacts, workflows, executions, API keys and sign-ins. `minutes` is
 * when a fact happened: projection-spec's at(minutes), a fixed day, so lists sort the same on every run.
 */
export function tenant(name = 'Acme', timezone = 'UTC') {
  const organizationId = randomUUID();
  const ownerId = randomUUID();
  const owner: Member = { organizationId, userId: ownerId, role: 'owner', email: `owner-${ownerId.slice(0, 8)}@acme.test` };
  const by = (actor: Actor) => ({ tenantId: organizationId, actor });
  const byOwner = by({ type: 'user', id: ownerId });
  const organization = entityStream(organizationDecider, organizationStream(organizationId), byOwner);
  const signup: Fact[] = [
    ...organization.decide({
      type: 'CreateOrganization',
      data: { organizationId, name, ownerUserId: ownerId, timezone, ownerEmail: owner.email, trialEndsAt: null },
    }),
    ...entityStream(userDecider, userStream(ownerId), byOwner).decide({
      type: 'RegisterUser',
      data: { userId: ownerId, organizationId, name: 'Grace Hopper', email: owner.email, passwordHash: 'scrypt$owner', role: 'owner' },
    }),
  ];

  /**
   * An invitation by the owner at `minutes`, pending until `accept`. It expires a week later by default: a
   * past date (the facts' day is fixed), so answers show it expired; pass a future `expiresAt` for one pending.
   */
  function invite(role: Exclude<Role, 'owner'>, minutes = 1, options: { email?: string; expiresAt?: string } = {}) {
    const email = options.email ?? `${role}-${randomUUID().slice(0, 8)}@acme.test`;
    const invitationId = randomUUID();
    const userId = randomUUID();
    const facts = organization.decide(
      {
        type: 'InviteMember',
        data: {
          organizationId,
          invitationId,
          email,
          role,
          userId,
          secretHash: 'sha',
          expiresAt: options.expiresAt ?? at(minutes + 7 * 24 * 60),
          invitedBy: ownerId,
          byRole: 'owner',
          now: at(minutes),
        },
      },
      minutes,
    );
    return {
      invitationId,
      facts,
      /** The invitee registers and joins: the member they became, and the facts. */
      accept(memberName = 'Ada Lovelace', acceptedAt = minutes + 1): { member: Member; facts: Fact[] } {
        const user = entityStream(userDecider, userStream(userId), by({ type: 'user', id: userId }));
        return {
          member: { organizationId, userId, role, email },
          facts: [
            ...user.decide(
              { type: 'RegisterUser', data: { userId, organizationId, name: memberName, email, passwordHash: 'scrypt$member', role } },
              acceptedAt,
            ),
            ...organization.decide(
              { type: 'AcceptInvitation', data: { organizationId, invitationId, secretHash: 'sha', now: at(acceptedAt) } },
              acceptedAt,
            ),
          ],
        };
      },
    };
  }

  return {
    id: organizationId,
    name,
    owner,
    byOwner,
    /** The organization's stream, for more of its commands. */
    organization,
    signup,
    invite,
    /** Someone invited at `minutes` who joined a minute later. */
    member(role: Exclude<Role, 'owner'>, minutes = 1, memberName = 'Ada Lovelace') {
      const invitation = invite(role, minutes);
      const joined = invitation.accept(memberName);
      return { member: joined.member, facts: [...invitation.facts, ...joined.facts] };
    },
    /** A contact created at `minutes`; its stream decides its later commands. */
    contact(input: Partial<NewContact> = {}, minutes = 1) {
      const id = randomUUID();
      const stream = entityStream(contactDecider, contactStream(id), byOwner);
      const fields = contactFieldsOf({ email: `${id.slice(0, 8)}@example.com`, ...input });
      const facts = stream.decide({ type: 'CreateContact', data: { contactId: id, organizationId, fields, tags: input.tags ?? [] } }, minutes);
      return { id, email: fields.email, stream, facts };
    },
    /** A workflow created at `minutes` (a manual one by default); its stream decides its later versions. */
    workflow(workflowName = 'Nurture', minutes = 1, definition: WorkflowDefinition = manualWorkflow()) {
      const id = randomUUID();
      const stream = entityStream(workflowDecider, workflowStream(id), byOwner);
      const facts = stream.decide(
        { type: 'CreateWorkflow', data: { workflowId: id, organizationId, name: workflowName, description: null, definition } },
        minutes,
      );
      return { id, stream, facts };
    },
    /**
     * An execution of `workflowId` for `contactId`, started at `minutes` by a manual run; `complete` and
     * `fail` end it as the workflow runner does (its one email step).
     */
    execution(workflowId: string, contactId: string, minutes = 2) {
      const id = randomUUID();
      const stream = entityStream(executionDecider, executionStream(id), by({ type: 'system', id: 'workflow-runner' }));
      const started = stream.decide(
        {
          type: 'StartExecution',
          data: {
            executionId: id,
            organizationId,
            workflowId,
            version: 1,
            contactId,
            cause: { type: 'manual', id: randomUUID() },
            entryStepId: 'hello',
            startedAt: at(minutes),
          },
        },
        minutes,
      );
      const begin = (m: number) =>
        stream.decide(
          {
            type: 'BeginStep',
            data: { stepId: 'hello', stepType: 'send_email', input: { subject: 'Welcome' }, now: at(m), maxStepsPerExecution: 100 },
          },
          m,
        );
      return {
        id,
        stream,
        facts: started,
        /** The email sent `after` minutes after the start: the execution completes. */
        complete: (after = 1): Fact[] => [
          ...begin(minutes + after),
          ...stream.decide(
            {
              type: 'CompleteStep',
              data: {
                stepId: 'hello',
                stepType: 'send_email',
                attempt: 1,
                output: { messageId: randomUUID() },
                nextStepId: null,
                now: at(minutes + after),
              },
            },
            minutes + after,
          ),
        ],
        /** The email refused for good: the execution fails with `message`. */
        fail: (message = 'mailbox refused the address', after = 1): Fact[] => [
          ...begin(minutes + after),
          ...stream.decide(
            {
              type: 'FailStep',
              data: {
                stepId: 'hello',
                stepType: 'send_email',
                attempt: 1,
                error: { code: 'mail_rejected', message },
                retryable: false,
                maxAttempts: 1,
                retryAt: at(minutes + after + 1),
                now: at(minutes + after),
              },
            },
            minutes + after,
          ),
        ],
      };
    },
    /**
     * An API key created at `minutes` by `creator` (the owner by default) with `scopes`; `key` is the secret a
     * client sends, as POST /api-keys shows it once.
     */
    apiKey(keyName: string, scopes: Permission[], minutes = 1, creator: Member = owner, expiresAt: string | null = null) {
      const id = randomUUID();
      const secret = newSecret();
      const key = composeApiKey(id, secret);
      const createdBy: Actor = { type: 'user', id: creator.userId };
      const stream = entityStream(apiKeyDecider, apiKeyStream(id), by(createdBy));
      const facts = stream.decide(
        {
          type: 'CreateApiKey',
          data: { keyId: id, organizationId, name: keyName, scopes, secretHash: sha256(secret), prefix: key.slice(0, 12), createdBy, expiresAt },
        },
        minutes,
      );
      return {
        id,
        key,
        stream,
        facts,
        revoke: (m: number): Fact[] => stream.decide({ type: 'RevokeApiKey', data: { keyId: id, organizationId } }, m),
      };
    },
    /** `member` signs in at `minutes`: a session of its own. */
    signIn(member: Member, minutes: number): Fact[] {
      const sessionId = randomUUID();
      return entityStream(sessionDecider, sessionStream(sessionId), by({ type: 'user', id: member.userId })).decide(
        {
          type: 'StartSession',
          data: { sessionId, userId: member.userId, organizationId, tokenId: randomUUID(), expiresAt: at(minutes + 60), startedAt: at(minutes) },
        },
        minutes,
      );
    },
  };
}

export type Tenant = ReturnType<typeof tenant>;
