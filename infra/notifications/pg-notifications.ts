import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Notifications } from './notifications.ts';
import { sleep } from '../resilience.ts';
import { retryPolicies, retrying } from '../retry.ts';

/**
 * LISTEN/NOTIFY on a real PostgreSQL server, so wake-ups cross processes. One dedicated connection
 * listens; it reconnects under the outage retry policy, and after every reconnect tells each listener to read again
 * (with an empty payload) because notifications sent while it was away are gone.
 */
export class PgNotifications implements Notifications {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  readonly hearsDatabaseNotify = true;
  private readonly channels = new Set<string>();
  private client: pg.Client | null = null;
  private closed = false;
  private connecting: Promise<void> | null = null;

  constructor(
    private readonly connectionString: string,
    private readonly notifyPool: pg.Pool,
    private readonly logger: Logger,
  ) {}

  async notify(channel: string, payload: string): Promise<void> {
    await this.notifyPool.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  listen(channel: string, handler: (payload: string) => void): () => void {
    this.emitter.on(channel, handler);
    if (!this.channels.has(channel)) {
      this.channels.add(channel);
      if (this.client) {
        this.client.query(`LISTEN ${pg.escapeIdentifier(channel)}`).catch((err: unknown) => {
          this.logger.warn({ err, channel }, 'LISTEN failed; will retry on reconnect');
        });
      } else {
        this.ensureConnected();
      }
    }
    return () => this.emitter.off(channel, handler);
  }

  /** Resolves once the listening connection is up (useful at start-up and in tests). */
  async ready(): Promise<void> {
    this.ensureConnected();
    while (!this.closed && !this.client) await (this.connecting ?? sleep(10));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.emitter.removeAllListeners();
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
    // A connection being made now ends itself once it sees `closed`: wait for that (a moment at most: during
    // an outage a connect may hang), so nothing of ours stays connected after close.
    if (this.connecting) await Promise.race([this.connecting, sleep(1_000)]);
  }

  private ensureConnected(): void {
    if (this.closed || this.client || this.connecting) return;
    this.connecting = this.connectLoop().finally(() => {
      this.connecting = null;
    });
  }

  /** Connects under the outage policy: tries until connected, or until closed. */
  private async connectLoop(): Promise<void> {
    await retrying(retryPolicies.outage, (attempt) => this.connect(attempt), {
      retryIf: () => !this.closed,
      onRetry: (err, attempt) => this.logger.warn({ err, attempt }, 'notification listener cannot connect; retrying'),
    }).catch(() => undefined); // a failure ends the tries only once closed: nothing to connect for any more
  }

  private async connect(attempt: number): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.connectionString, keepAlive: true });
    try {
      client.on('error', (err) => this.onLost(client, err));
      client.on('end', () => this.onLost(client, new Error('connection ended')));
      await client.connect();
      client.on('notification', (msg) => this.emitter.emit(msg.channel, msg.payload ?? ''));
      for (const channel of this.channels) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      if (this.closed) {
        await client.end();
        return;
      }
      this.client = client;
      if (attempt > 1) this.logger.info({ attempt }, 'notification listener reconnected');
      // Anything sent while we were away is lost: make every listener read again.
      for (const channel of this.channels) this.emitter.emit(channel, '');
    } catch (err) {
      client.removeAllListeners();
      // The server may still report the connection's end as an error: never an uncaught one.
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  private onLost(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners();
    client.on('error', () => undefined);
    if (this.closed) return;
    this.logger.warn({ err }, 'notification listener lost its connection; reconnecting');
    this.ensureConnected();
  }
}
