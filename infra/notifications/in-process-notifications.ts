import { EventEmitter } from 'node:events';
import type { Notifications } from './notifications.ts';

/**
 * Notifications inside one process. The embedded database cannot carry LISTEN/NOTIFY across its socket
 * connections, and the embedded default always runs as one process, so this is all it needs.
 */
export class InProcessNotifications implements Notifications {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  readonly hearsDatabaseNotify = false;

  async notify(channel: string, payload: string): Promise<void> {
    this.emitter.emit(channel, payload);
  }

  listen(channel: string, handler: (payload: string) => void): () => void {
    this.emitter.on(channel, handler);
    return () => this.emitter.off(channel, handler);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
