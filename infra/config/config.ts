import { z } from 'zod';
import { isAllowEntry } from '../outbound/address-policy.ts';

/**
 * Every setting comes from the environment, is validated once at start, and a bad or missing value is
 * reported by name with what was expected. `.env.example` lists them all.
 */
const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);
const entriesOf = (list: string) =>
  list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: port.default(3000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  EVENTSTORE_URL: z
    .string()
    .regex(/^(esdb|kurrentdb|kurrent)(\+discover)?:\/\//, 'must be an esdb:// (or kurrentdb://) connection string')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'must be 1 to 64 letters, digits, ":", "_" or "-"')
    .default('nf:'),
  RABBITMQ_URL: z
    .string()
    .regex(/^amqps?:\/\//, 'must be an amqp:// or amqps:// URL')
    .optional(),
  RABBITMQ_EXCHANGE: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,255}$/, 'must be an exchange name')
    .default('nexusflow.events'),
  ELASTICSEARCH_URL: z.url({ error: 'must be an http(s):// URL of an Elasticsearch 8 node' }).optional(),
  ELASTICSEARCH_INDEX_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be lower-case letters, digits, ".", "_" or "-"')
    .default('nexusflow-'),
  CLICKHOUSE_URL: z.url({ error: 'must be an http(s):// URL of a ClickHouse server' }).optional(),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a database name (letters, digits, "_")')
    .default('nexusflow'),
  NEXUSFLOW_DATA_DIR: z.string().min(1).default('./.nexusflow'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  ACCESS_TOKEN_TTL_SECONDS: positiveInt(86_400).default(900),
  REFRESH_TOKEN_TTL_SECONDS: positiveInt(31_536_000).default(2_592_000),
  /** How long a rotated-out refresh token may come back and get the same new pair (0: reuse is always theft). */
  REFRESH_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
  PASSWORD_HASH_COST: z.coerce.number().int().min(10, 'must be at least 10 (scrypt N = 2^cost)').max(20).default(15),
  TRUST_PROXY: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true'),
  DATA_ENCRYPTION_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Opens operator-only answers (detailed health, /metrics); unset: they are not served over HTTP. */
  OPERATOR_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Serves GET /metrics, without a token, on a port of its own (for a scraper on a private network). */
  METRICS_PORT: port.optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  APP_URL: z.url({ error: 'must be a URL, e.g. https://app.nexusflow.io' }).optional(),
  MAIL_OUTBOX_DIR: z.string().min(1).optional(),
  MAIL_MAX_PER_ADDRESS_PER_HOUR: positiveInt(1_000).default(5),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url({ error: 'must be a comma-separated list of origins such as https://app.example.com' })))
    // What browsers send in Origin: scheme, host and port, no path or trailing slash.
    .transform((urls) => urls.map((url) => new URL(url).origin)),
  RATE_LIMIT_PER_IP: positiveInt(100_000_000).default(600),
  RATE_LIMIT_PER_TENANT: positiveInt(100_000_000).default(3_000),
  RATE_LIMIT_WINDOW_SECONDS: positiveInt(86_400).default(60),
  IDEMPOTENCY_TTL_SECONDS: positiveInt(7 * 86_400).default(86_400),
  API_KEY_USAGE_RESOLUTION_SECONDS: positiveInt(86_400).default(60),
  API_USAGE_FLUSH_SECONDS: positiveInt(3_600).default(60),
  ORGANIZATION_STATUS_CACHE_MS: positiveInt(600_000).default(5_000),
  WORKFLOW_RUNNER_CONCURRENCY: positiveInt(1_000).default(128),
  WORKFLOW_LEASE_MS: positiveInt(600_000).default(30_000),
  WORKFLOW_POLL_MS: positiveInt(60_000).default(1_000),
  /** Executions due within this many ms are claimed and loaded ahead (0: never); at most WORKFLOW_PREFETCH_MAX held. */
  WORKFLOW_PREFETCH_MS: z.coerce.number().int().min(0).max(300_000).default(15_000),
  WORKFLOW_PREFETCH_MAX: z.coerce.number().int().min(0).max(100_000).default(10_000),
  /** Step visits one execution may start (cycles through waits included) before it fails with step_budget_exhausted. */
  WORKFLOW_MAX_STEPS_PER_EXECUTION: positiveInt(1_000_000).default(1_000),
  /**
   * Addresses and CIDR ranges (comma-separated) that tenant-chosen outbound targets (http_request steps, …)
   * may reach although they are not public: loopback, private, link-local. Cloud metadata stays refused.
   */
  OUTBOUND_ALLOW_CIDRS: z
    .string()
    .default('')
    .superRefine((value, ctx) => {
      const bad = entriesOf(value).filter((entry) => !isAllowEntry(entry));
      if (bad.length > 0)
        ctx.addIssue({
          code: 'custom',
          message: `must be comma-separated IP addresses or CIDR ranges such as 10.0.0.0/8 or fd12:3456::/48 (not ${bad.join(', ')})`,
        });
    })
    .transform(entriesOf),
  MAILBOX_MAX_PER_MINUTE: positiveInt(100_000).default(60),
  MAILBOX_MAX_PER_DAY: positiveInt(10_000_000).default(2_000),
  LOGIN_MAX_FAILURES: positiveInt(100).default(5),
  LOGIN_LOCK_SECONDS: positiveInt(86_400).default(30),
  /** Staff console sessions end after this much inactivity, and after ADMIN_SESSION_MAX_HOURS in any case. */
  ADMIN_SESSION_IDLE_MINUTES: positiveInt(24 * 60).default(60),
  ADMIN_SESSION_MAX_HOURS: positiveInt(24 * 7).default(12),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT_BYTES: positiveInt(50 * 1024 * 1024).default(256 * 1024),
  READ_YOUR_WRITES_TIMEOUT_MS: positiveInt(30_000).default(2_000),
  PROJECTION_BATCH_SIZE: positiveInt(10_000).default(1_000),
  /**
   * Events per batch of a read model well behind the head (a cold catch-up, a rebuild, a long backlog: two
   * pages in a row short of the head); back to PROJECTION_BATCH_SIZE at the head. Reactors keep PROJECTION_BATCH_SIZE.
   */
  PROJECTION_CATCHUP_BATCH_SIZE: positiveInt(50_000).default(5_000),
  PROJECTION_LIVE_DELAY_MS: z.coerce.number().int().min(0).max(1_000).default(10),
  /** Once live, the least time between two batches of a background projection (projectors/runner/projection.ts `background`). */
  PROJECTION_BACKGROUND_DELAY_MS: z.coerce.number().int().min(0).max(10_000).default(250),
  /**
   * How far read models trail the log while the workflow runner has more due work than slots; not once that
   * spell ends, nor for a read model a read-your-writes read waits on (projectors/backlog.ts ReadModelPace).
   */
  PROJECTION_BACKLOG_DELAY_MS: z.coerce.number().int().min(0).max(10_000).default(10_000),
  /**
   * Recent events a projector process keeps in memory for all its projections (projectors/runner/log-tail.ts); 0:
   * none. Each for 10 s at most, or PROJECTION_BACKLOG_DELAY_MS and 2 s if longer: the read models held back behind
   * a backlogged runner still find their events there. About 2 KB each: 50,000 (the most a runner here writes in
   * 12 s, 4,000 events/s) is ~100 MB at the peak of a burst, nothing once idle.
   */
  PROJECTION_TAIL_EVENTS: z.coerce.number().int().min(0).max(1_000_000).default(50_000),
  DB_POOL_SIZE: positiveInt(200).default(16),
  SHUTDOWN_TIMEOUT_MS: positiveInt(120_000).default(10_000),
  /** CRM sync: integrations synced at once per projector process, how often it looks for due ones, its lease, records per page. */
  CRM_SYNC_ENABLED: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('true')
    .transform((value) => value === 'true'),
  CRM_SYNC_CONCURRENCY: positiveInt(100).default(4),
  CRM_SYNC_POLL_MS: positiveInt(600_000).default(5_000),
  CRM_SYNC_LEASE_MS: positiveInt(3_600_000).default(120_000),
  CRM_SYNC_PAGE_SIZE: positiveInt(2_000).default(500),
  // CRM providers (issue 20): each one's OAuth app, and where its services are (defaults: the real ones).
  SALESFORCE_CLIENT_ID: z.string().min(1).optional(),
  SALESFORCE_CLIENT_SECRET: z.string().min(1).optional(),
  /** Authorization and token host; a sandbox org uses https://test.salesforce.com. */
  SALESFORCE_LOGIN_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://login.salesforce.com'),
  HUBSPOT_CLIENT_ID: z.string().min(1).optional(),
  HUBSPOT_CLIENT_SECRET: z.string().min(1).optional(),
  HUBSPOT_API_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://api.hubapi.com'),
  /** Where the user grants access (the consent page). */
  HUBSPOT_OAUTH_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://app.hubspot.com'),
  PIPEDRIVE_CLIENT_ID: z.string().min(1).optional(),
  PIPEDRIVE_CLIENT_SECRET: z.string().min(1).optional(),
  PIPEDRIVE_API_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://api.pipedrive.com'),
  PIPEDRIVE_OAUTH_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://oauth.pipedrive.com'),
  ZOHO_CLIENT_ID: z.string().min(1).optional(),
  ZOHO_CLIENT_SECRET: z.string().min(1).optional(),
  ZOHO_API_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://www.zohoapis.com'),
  ZOHO_ACCOUNTS_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://accounts.zoho.com'),
  // Billing on Stripe (issue 21). Without STRIPE_SECRET_KEY billing runs offline: trials and plan limits hold,
  // nothing is charged, and every billing answer says so.
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/, { error: 'must be a Stripe secret or restricted key (sk_live_…, sk_test_…, rk_…)' })
    .optional(),
  /** The signing secret of the webhook endpoint (POST /billing/webhooks/stripe); required with STRIPE_SECRET_KEY. */
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9]+$/, { error: 'must be a webhook signing secret (whsec_…)' })
    .optional(),
  STRIPE_API_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://api.stripe.com'),
  // The AI service (issue 22). Without OPENAI_API_KEY it runs offline: deterministic answers labelled so.
  /** The primary provider: OpenAI, or any OpenAI-compatible server at OPENAI_BASE_URL (the library's own variables). */
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.url({ error: 'must be an http(s):// URL' }).default('https://api.openai.com/v1'),
  /** A fallback provider (another vendor's OpenAI-compatible endpoint), tried when the primary fails: both or neither. */
  AI_FALLBACK_API_KEY: z.string().min(1).optional(),
  AI_FALLBACK_BASE_URL: z.url({ error: 'must be an http(s):// URL' }).optional(),
  /** Models per alias: the primary's and the fallback's. */
  AI_CHAT_MODEL: z.string().min(1).default('gpt-4o-mini'),
  AI_FALLBACK_CHAT_MODEL: z.string().min(1).optional(),
  AI_EMBEDDING_MODEL: z.string().min(1).default('text-embedding-3-small'),
  AI_FALLBACK_EMBEDDING_MODEL: z.string().min(1).optional(),
  /** A provider call that has not answered in this long is given up (and the fallback tried). */
  AI_TIMEOUT_MS: positiveInt(600_000).default(30_000),
  /** How long a provider that failed is skipped before it is tried again. */
  AI_COOLDOWN_MS: positiveInt(3_600_000).default(30_000),
  /** Length of the embeddings asked for (text-embedding-3 models shorten theirs on request); 0: the model's own. */
  AI_EMBEDDING_DIMENSIONS: z.coerce.number().int().min(0).max(4_096).default(256),
  /** AI requests per organization per minute, across every process (shared counters): the seed's 100. */
  AI_REQUESTS_PER_MINUTE: positiveInt(1_000_000).default(100),
  /** Tokens one AI request may take: its prompt as sent plus the answer it may get (the seed's 10,000). */
  AI_MAX_TOKENS_PER_REQUEST: positiveInt(1_000_000).default(10_000),
  /** How long a cached AI answer is served (seconds). */
  AI_CACHE_TTL_SECONDS: positiveInt(30 * 86_400).default(86_400),
  /**
   * Endpoints whose answers are cached unless a request says `"cache": false` (the others only when it says
   * `"cache": true`): comma-separated, from complete, embed, search, suggest/workflow-steps, generate/email,
   * analyze/sentiment, generate/workflow. Email generation is personal: never cached unless asked.
   */
  AI_CACHE_ENDPOINTS: z
    .string()
    .default('embed,analyze/sentiment,suggest/workflow-steps,generate/workflow')
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.enum(['complete', 'embed', 'search', 'suggest/workflow-steps', 'generate/email', 'analyze/sentiment', 'generate/workflow'], {
          error: 'must list AI endpoints (complete, embed, search, suggest/workflow-steps, generate/email, analyze/sentiment, generate/workflow)',
        }),
      ),
    ),
  /** Memory for the exact-scan search's vectors (where there is no pgvector), in MiB; a tenant larger than it is read per search. */
  AI_VECTOR_CACHE_MB: positiveInt(65_536).default(128),
  /** How often the embedder looks for records to embed when no change woke it (milliseconds). */
  AI_EMBED_INTERVAL_MS: positiveInt(3_600_000).default(5_000),
  /** Days an organization keeps writing after its trial ended unpaid or a payment failed, before it is restricted. */
  BILLING_GRACE_DAYS: positiveInt(60).default(7),
  /** How often the billing worker passes: standing by the clock, plan changes due at a period end, reconciliation with Stripe. */
  BILLING_CHECK_MS: positiveInt(3_600_000).default(60_000),
  /**
   * Keys sealing integrations' OAuth credentials (infra/crm/credentials-vault.ts): `<keyId>:<secret>`, comma-
   * separated; the first seals, all open (rotation). Unset: one key derived from DATA_ENCRYPTION_KEY or JWT_SECRET.
   */
  CREDENTIALS_KEYS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const keys = entriesOf(value).map((entry) => {
        const at = entry.indexOf(':');
        return { id: at < 0 ? '' : entry.slice(0, at), secret: at < 0 ? '' : entry.slice(at + 1) };
      });
      const bad = keys.filter((key) => !/^[A-Za-z0-9_-]{1,32}$/.test(key.id) || key.secret.length < 32);
      const ids = keys.map((key) => key.id);
      if (keys.length === 0 || bad.length > 0 || new Set(ids).size !== ids.length) {
        ctx.addIssue({
          code: 'custom',
          message:
            'must be comma-separated <keyId>:<secret> entries with distinct key ids (1 to 32 letters, digits, "_" or "-") and secrets of at least 32 characters',
        });
        return z.NEVER;
      }
      return keys;
    }),
});

export type Config = z.infer<typeof schema>;

/** Which process reads the configuration: a role, or the operator's command line (which serves nobody). */
export type Role = 'all' | 'command-api' | 'query-api' | 'projectors' | 'admin' | 'cli';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv, role: Role): Config {
  // Empty strings in .env files mean "not set".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = issue.path.join('.') || '(environment)';
        const raw = cleaned[name];
        const shown = raw === undefined ? 'not set' : `got ${JSON.stringify(/SECRET|TOKEN|KEY|PASSWORD/.test(name) ? '***' : raw)}`;
        return `${name}: ${issue.message} (${shown})`;
      }),
    );
  }
  const config = result.data;
  if (config.STRIPE_SECRET_KEY && !config.STRIPE_WEBHOOK_SECRET) {
    throw new ConfigError([
      "STRIPE_WEBHOOK_SECRET: is required with STRIPE_SECRET_KEY (Stripe's events cannot be trusted unverified); it is the endpoint's signing secret, whsec_… (not set)",
    ]);
  }
  if (Boolean(config.AI_FALLBACK_API_KEY) !== Boolean(config.AI_FALLBACK_BASE_URL)) {
    throw new ConfigError([
      'AI_FALLBACK_BASE_URL: AI_FALLBACK_API_KEY and AI_FALLBACK_BASE_URL go together (the fallback is another server with its own key)',
    ]);
  }
  if (config.DATABASE_URL && !config.JWT_SECRET && role !== 'cli') {
    throw new ConfigError([
      'JWT_SECRET: is required when DATABASE_URL is set (every process must verify the same tokens); generate one with `openssl rand -hex 32` (not set)',
    ]);
  }
  if (role !== 'all' && role !== 'cli') {
    const missing: string[] = [];
    if (!config.DATABASE_URL) {
      missing.push(
        `DATABASE_URL: is required to run ${role} as its own process (the embedded database lives inside one process; use \`npm start\` for that) (not set)`,
      );
    }
    if (!config.REDIS_URL) {
      missing.push(
        `REDIS_URL: is required to run ${role} as its own process (sessions revoked in one process must be refused by all; use \`npm start\` for one process) (not set)`,
      );
    }
    if (missing.length > 0) throw new ConfigError(missing);
  }
  return config;
}
