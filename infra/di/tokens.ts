// Loaded first by every module that declares what it needs (inversify's decorators keep it in this registry).
import 'reflect-metadata';

/**
 * Names of what the container modules bind. Modules and composition roots use them; a class the container
 * builds names its dependencies with them (`@inject(TOKENS.X)`).
 */
export const TOKENS = {
  // The process
  Config: Symbol.for('nexusflow.Config'),
  Logger: Symbol.for('nexusflow.Logger'),
  /** Start and stop hooks of what the container built (see Lifecycle). */
  Lifecycle: Symbol.for('nexusflow.Lifecycle'),
  /** The checks /health/ready runs, registered by what the container built. */
  HealthChecks: Symbol.for('nexusflow.HealthChecks'),
  /** The process's Prometheus metrics (infra/observability/metrics.ts): components record into their series. */
  Metrics: Symbol.for('nexusflow.Metrics'),
  /** What a role runs (projections, the workflow runner, the scheduler...): made at start, they register their start and stop. */
  Services: Symbol.for('nexusflow.Services'),

  // Adapter families (infra/adapters.ts chooses the implementation of each)
  /** The PostgreSQL database: a server, or the embedded one. */
  Database: Symbol.for('nexusflow.Database'),
  Notifications: Symbol.for('nexusflow.Notifications'),
  /** The token signing secret and the data key. */
  Secrets: Symbol.for('nexusflow.Secrets'),
  /** The event store as stored (PostgreSQL or EventStoreDB), before the layers. */
  StoredEvents: Symbol.for('nexusflow.StoredEvents'),
  /** The event store as the application sees it (chained, sealed, upcast). */
  EventStore: Symbol.for('nexusflow.EventStore'),
  /** The log as stored (links included), and how to open it: for audit exports and chain verification. */
  StoredLog: Symbol.for('nexusflow.StoredLog'),
  PersonalDataKeys: Symbol.for('nexusflow.PersonalDataKeys'),
  Orm: Symbol.for('nexusflow.Orm'),
  Generations: Symbol.for('nexusflow.Generations'),
  SearchIndex: Symbol.for('nexusflow.SearchIndex'),
  AnalyticsStore: Symbol.for('nexusflow.AnalyticsStore'),
  Ephemeral: Symbol.for('nexusflow.Ephemeral'),
  IntegrationEventBus: Symbol.for('nexusflow.IntegrationEventBus'),
  Mailer: Symbol.for('nexusflow.Mailer'),
  /** Mail to people about their accounts: throttled per address. */
  AccountMailer: Symbol.for('nexusflow.AccountMailer'),
  /** The client for targets tenants choose (SSRF-guarded). */
  OutboundHttp: Symbol.for('nexusflow.OutboundHttp'),

  // Access (every process that serves the API)
  Tokens: Symbol.for('nexusflow.Tokens'),
  SessionRevocations: Symbol.for('nexusflow.SessionRevocations'),
  ApiKeyVerifier: Symbol.for('nexusflow.ApiKeyVerifier'),
  Authenticator: Symbol.for('nexusflow.Authenticator'),
  RateLimiter: Symbol.for('nexusflow.RateLimiter'),
  ApiUsageMeter: Symbol.for('nexusflow.ApiUsageMeter'),
  PasswordHasher: Symbol.for('nexusflow.PasswordHasher'),
  LoginAttempts: Symbol.for('nexusflow.LoginAttempts'),
  SecretBox: Symbol.for('nexusflow.SecretBox'),
  OneTimePasswords: Symbol.for('nexusflow.OneTimePasswords'),

  // HTTP
  /** Routes of the API, one binding per capability and side (each an array). */
  Routes: Symbol.for('nexusflow.Routes'),
  /** Other apps served under a path prefix on the same port (the staff console). */
  MountedApps: Symbol.for('nexusflow.MountedApps'),
  /** Refuses writes of suspended organizations: bound where commands are served. */
  Suspensions: Symbol.for('nexusflow.Suspensions'),
  /** Waits for X-Min-Position: bound where queries are served. */
  BeforeHandler: Symbol.for('nexusflow.BeforeHandler'),
  HttpServer: Symbol.for('nexusflow.HttpServer'),

  // The command side
  CommandHandler: Symbol.for('nexusflow.CommandHandler'),
  ValueClaims: Symbol.for('nexusflow.ValueClaims'),
  BackgroundWork: Symbol.for('nexusflow.BackgroundWork'),
  Accounts: Symbol.for('nexusflow.Accounts'),
  /** Lifetimes of sign-up links, reset links and second-factor challenges, and the app's URL for the links. */
  AccountPolicy: Symbol.for('nexusflow.AccountPolicy'),
  MembershipPolicy: Symbol.for('nexusflow.MembershipPolicy'),
  /** Refresh answers kept for the reuse grace (sealed, in the ephemeral store). */
  RecentRotations: Symbol.for('nexusflow.RecentRotations'),
  Sessions: Symbol.for('nexusflow.Sessions'),
  SecondFactors: Symbol.for('nexusflow.SecondFactors'),
  OrganizationCommands: Symbol.for('nexusflow.OrganizationCommands'),
  OrganizationStatus: Symbol.for('nexusflow.OrganizationStatus'),
  MembershipCommands: Symbol.for('nexusflow.MembershipCommands'),
  ApiKeyCommands: Symbol.for('nexusflow.ApiKeyCommands'),
  ContactCommands: Symbol.for('nexusflow.ContactCommands'),
  WorkflowCommands: Symbol.for('nexusflow.WorkflowCommands'),
  ExecutionStarter: Symbol.for('nexusflow.ExecutionStarter'),
  ExecutionCommands: Symbol.for('nexusflow.ExecutionCommands'),
  PlanCommands: Symbol.for('nexusflow.PlanCommands'),
  StaffAccounts: Symbol.for('nexusflow.StaffAccounts'),
  StaffConsole: Symbol.for('nexusflow.StaffConsole'),
  ParkedEventRetries: Symbol.for('nexusflow.ParkedEventRetries'),
  PersonalDataErasure: Symbol.for('nexusflow.PersonalDataErasure'),

  // Read models and projections
  /** How far each projection has got (read-your-writes; reactors wait on it). */
  CheckpointWatcher: Symbol.for('nexusflow.CheckpointWatcher'),
  /** Read-model projections, one binding each (the projector host runs them all). */
  Projections: Symbol.for('nexusflow.Projections'),
  /** Reactors (effects: workflow starts, integration events), one binding each. */
  Reactors: Symbol.for('nexusflow.Reactors'),
  /** Read models kept in other stores and rebuilt into generations (search, analytics), one binding each. */
  RebuildableReadModels: Symbol.for('nexusflow.RebuildableReadModels'),
  ReadModelRebuilder: Symbol.for('nexusflow.ReadModelRebuilder'),
  RebuildJobs: Symbol.for('nexusflow.RebuildJobs'),
  ParkedEvents: Symbol.for('nexusflow.ParkedEvents'),
  WorkflowRunner: Symbol.for('nexusflow.WorkflowRunner'),
  /** Whether the workflow runner has more due work than slots (projectors/backlog.ts): background work yields. */
  WorkflowBacklog: Symbol.for('nexusflow.WorkflowBacklog'),
  Scheduler: Symbol.for('nexusflow.Scheduler'),
  ScheduleFirer: Symbol.for('nexusflow.ScheduleFirer'),

  // Billing (issue 21)
  /** The payment provider: Stripe, or offline without a key (infra/billing). */
  BillingProvider: Symbol.for('nexusflow.BillingProvider'),
  BillingCommands: Symbol.for('nexusflow.BillingCommands'),
  /** Plan limits kept at the moment of the write (command-api/billing/quota-gate.ts). */
  QuotaGate: Symbol.for('nexusflow.QuotaGate'),
  /** Counts the units a plan limits when an organization comes onto it (projectors/billing/quota-counter.ts). */
  QuotaCounter: Symbol.for('nexusflow.QuotaCounter'),
  /** Metered usage reported to Stripe (projectors/billing/usage-reporter.ts). */
  UsageReporter: Symbol.for('nexusflow.UsageReporter'),
  /** Standing by the clock, scheduled plan changes, reconciliation (projectors/billing/billing-worker.ts). */
  BillingWorker: Symbol.for('nexusflow.BillingWorker'),

  // The AI service (issue 22)
  /** Model aliases to OpenAI-compatible providers with a fallback, or the offline provider (infra/ai/module.ts). */
  AiRouter: Symbol.for('nexusflow.AiRouter'),
  /** The gateway's features: complete, embed, search, suggestions, email and workflow writing (command-api/ai/ai-features.ts). */
  AiFeatures: Symbol.for('nexusflow.AiFeatures'),
  /** Embeddings of the tenants' records and similarity search: pgvector or an exact scan (infra/ai/vector-index.ts). */
  VectorIndex: Symbol.for('nexusflow.VectorIndex'),
  /** Fills in the vectors of records the embeddings projection listed (projectors/ai/embedder.ts). */
  Embedder: Symbol.for('nexusflow.Embedder'),

  // CRM integrations
  /** The configured CRM providers (infra/crm): OAuth, data API and webhooks of each. */
  CrmProviders: Symbol.for('nexusflow.CrmProviders'),
  /** Sealed OAuth credentials of integrations (infra/crm/credentials-vault.ts). */
  CredentialsVault: Symbol.for('nexusflow.CredentialsVault'),
  /** Opens an integration's credentials, refreshing its token when due (infra/crm/integration-connections.ts). */
  IntegrationConnections: Symbol.for('nexusflow.IntegrationConnections'),
  IntegrationCommands: Symbol.for('nexusflow.IntegrationCommands'),
  /** Runs due syncs, webhook-triggered fetches and token refreshes. */
  SyncRunner: Symbol.for('nexusflow.SyncRunner'),

  // Staff console
  AdminConsole: Symbol.for('nexusflow.AdminConsole'),
} as const;
