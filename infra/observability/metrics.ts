import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { KeyedHistogram } from './keyed-histogram.ts';

/** Latency buckets in seconds, from sub-millisecond work to long waits. */
const LATENCY = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LATENESS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The figures operators watch, in Prometheus's exposition format (prom-client): one registry per process
 * (no global one), names per Prometheus conventions (`nexusflow_` prefix, base units, `_total` counters).
 * Components get this object from the container and record into the series they own.
 */
export class Metrics {
  readonly registry = new Registry();

  // HTTP and commands
  readonly httpRequestDuration = new Histogram({
    name: 'nexusflow_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: LATENCY,
    registers: [this.registry],
  });
  /**
   * What each layer of the command path takes per request (authentication, rate limits, validation, sealing,
   * the hash chain, the append…): the bench prints sum/count per command, so a new layer shows its price.
   * Wall time: a layer that waits on Redis or PostgreSQL counts its round trip.
   */
  readonly layerDuration = new KeyedHistogram(
    'nexusflow_request_layer_duration_seconds',
    'Time spent in each layer of the request path, by layer',
    'layer',
    LATENCY,
    this.registry,
  );
  readonly commands = new Counter({
    name: 'nexusflow_commands_total',
    help: 'Commands handled, by command type and outcome (appended, unchanged, refused, conflict, failed)',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  /**
   * The plan-limit gate's decisions: `taken` (the unit went in with the write), `refused` (402 at the limit),
   * `decided_again` (the take was refused by the store: another write took the revision first, or a take it
   * was decided on failed). Many of the last: writes of one organization contend for its quota.
   */
  readonly planLimitDecisions = new Counter({
    name: 'nexusflow_plan_limit_decisions_total',
    help: 'Plan-limit decisions on a limited kind, by kind and outcome (taken, refused, decided_again)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  // Event store
  readonly appendDuration = new Histogram({
    name: 'nexusflow_event_store_append_duration_seconds',
    help: 'Appends to the event store, from the call to its commit (group commit included)',
    buckets: LATENCY,
    registers: [this.registry],
  });
  readonly appendBatchSize = new Histogram({
    name: 'nexusflow_event_store_append_batch_events',
    help: 'Events per group-commit transaction',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
    registers: [this.registry],
  });
  /**
   * Appends sent beside the transaction that writes what they build on, whose own transaction took the log
   * head first: handed back and sent again behind it (a transaction more for them; see AppendBatcher).
   */
  readonly appendsHandedBack = new Counter({
    name: 'nexusflow_event_store_appends_handed_back_total',
    help: 'Speculative appends whose transaction went ahead of their predecessor and that were sent again',
    registers: [this.registry],
  });

  // Projections
  readonly projectionLagEvents = new Gauge({
    name: 'nexusflow_projection_lag_events',
    help: 'Events between the head of the log and the projection checkpoint',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });
  readonly projectionLagSeconds = new Gauge({
    name: 'nexusflow_projection_lag_seconds',
    help: 'Age of the oldest event the projection has not applied yet (0 when caught up)',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });
  readonly projectionEvents = new Counter({
    name: 'nexusflow_projection_events_total',
    help: 'Events applied by each projection (rate: events per second)',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });
  readonly projectionBatches = new Counter({
    name: 'nexusflow_projection_batches_total',
    help: 'Batches committed by each projection (with their checkpoint)',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });
  /**
   * Each committed batch of a projection, from the start of its transaction (or a reactor's effects) to its
   * commit: what a read model costs, its database round trips included (the bench prints the sum per event).
   */
  readonly projectionBatchDuration = new Histogram({
    name: 'nexusflow_projection_batch_duration_seconds',
    help: 'Committed batches of each projection, from the start of its transaction to its commit',
    labelNames: ['projection'] as const,
    buckets: LATENCY,
    registers: [this.registry],
  });
  readonly projectionLogPages = new Counter({
    name: 'nexusflow_projection_log_pages_total',
    help: "Pages of the log the process's projections read: from the tail kept in the process (tail) or from the event store (store)",
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly projectionParked = new Gauge({
    name: 'nexusflow_projection_parked_events',
    help: 'Events each projection parked and nobody resolved yet (since this process started counting)',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });

  // Workflow runner
  readonly runnerClaimed = new Counter({
    name: 'nexusflow_workflow_executions_claimed_total',
    help: 'Executions claimed by this runner',
    registers: [this.registry],
  });
  readonly runnerDueNotStarted = new Gauge({
    name: 'nexusflow_workflow_executions_due',
    help: 'Executions due now that no runner has claimed yet',
    registers: [this.registry],
  });
  readonly timerLateness = new Histogram({
    name: 'nexusflow_workflow_timer_lateness_seconds',
    help: 'How late a due execution was claimed after its due time',
    buckets: LATENESS,
    registers: [this.registry],
  });
  readonly stepDuration = new Histogram({
    name: 'nexusflow_workflow_step_duration_seconds',
    help: 'Workflow steps run, by step type and outcome',
    labelNames: ['type', 'outcome'] as const,
    buckets: LATENCY,
    registers: [this.registry],
  });
  readonly stepRetries = new Counter({
    name: 'nexusflow_workflow_step_retries_total',
    help: 'Step retries scheduled, by step type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  // CRM sync
  readonly crmApiCalls = new Counter({
    name: 'nexusflow_crm_api_calls_total',
    help: "Calls to CRM providers' APIs by the sync and workflow steps, by provider and outcome (ok, rate_limited, quota, budget_spent, unauthorized, unavailable, rejected)",
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly crmSyncRecords = new Counter({
    name: 'nexusflow_crm_sync_records_total',
    help: 'Records the CRM sync handled, by provider and outcome (read, created, updated, skipped, rejected, conflicts)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly crmSyncRuns = new Counter({
    name: 'nexusflow_crm_sync_runs_total',
    help: 'CRM sync runs ended, by provider, kind and outcome (completed, failed)',
    labelNames: ['provider', 'kind', 'outcome'] as const,
    registers: [this.registry],
  });

  // AI service
  readonly aiRequests = new Counter({
    name: 'nexusflow_ai_requests_total',
    help: 'AI requests by endpoint and outcome (answered, cached, ai_disabled, request_too_large, ai_rate_limited, plan_limit_reached, unavailable, rejected, invalid_answer, failed)',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly aiTokens = new Counter({
    name: 'nexusflow_ai_tokens_total',
    help: 'AI tokens recorded as usage, by endpoint, provider and kind (prompt, completion)',
    labelNames: ['endpoint', 'provider', 'kind'] as const,
    registers: [this.registry],
  });

  // Outbound and backing services
  readonly outboundDuration = new Histogram({
    name: 'nexusflow_outbound_request_duration_seconds',
    help: 'Requests to targets outside, by kind (webhook, crm, ai, …) and outcome',
    labelNames: ['target', 'outcome'] as const,
    buckets: LATENCY,
    registers: [this.registry],
  });
  readonly redisRoundTrips = new Counter({
    name: 'nexusflow_redis_round_trips_total',
    help: 'Round trips to Redis (a pipeline counts once), by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly rabbitMqRoundTrips = new Counter({
    name: 'nexusflow_rabbitmq_round_trips_total',
    help: 'Publishes to RabbitMQ awaited for their confirm, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly databaseRoundTrips = new Counter({
    name: 'nexusflow_database_round_trips_total',
    help: 'Queries sent to PostgreSQL by the event store and its layers (personal-data keys), by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'nexusflow_' });
  }

  /** Times one pass through a layer: `const done = metrics.layer('sealing'); …; done();` */
  layer(name: string): () => void {
    const cell = this.layerDuration.cell(name);
    const started = performance.now();
    return () => cell.observe((performance.now() - started) / 1000);
  }

  /** The exposition text (and its content type) for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
