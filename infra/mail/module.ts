import os from 'node:os';
import path from 'node:path';
import { ContainerModule, type interfaces } from 'inversify';
import type { Logger } from 'pino';
import type { Mailer } from '../../command-api/ports.ts';
import type { Config } from '../config/config.ts';
import { TOKENS } from '../di/tokens.ts';
import type { EphemeralStore } from '../ephemeral/ephemeral-store.ts';
import { ThrottledMailer } from './mail-throttle.ts';
import { OutboxMailer } from './outbox-mailer.ts';

const get = <T>(ctx: interfaces.Context, token: symbol) => ctx.container.getAsync<T>(token);

function outboxDirectory(config: Config): string {
  if (config.MAIL_OUTBOX_DIR) return config.MAIL_OUTBOX_DIR;
  if (config.NEXUSFLOW_DATA_DIR.startsWith('memory://')) return path.join(os.tmpdir(), 'nexusflow-outbox');
  return path.join(config.NEXUSFLOW_DATA_DIR, 'outbox');
}

/** Mail as JSON files in an outbox directory (the only transport so far). */
export const outboxMailModule = new ContainerModule((bind) => {
  bind<Mailer>(TOKENS.Mailer).toDynamicValue(async (ctx) => {
    const [config, logger] = await Promise.all([get<Config>(ctx, TOKENS.Config), get<Logger>(ctx, TOKENS.Logger)]);
    return new OutboxMailer(outboxDirectory(config), logger.child({ component: 'mail' }));
  });
  bind<Mailer>(TOKENS.AccountMailer).toDynamicValue(async (ctx) => {
    const [config, logger, mailer, ephemeral] = await Promise.all([
      get<Config>(ctx, TOKENS.Config),
      get<Logger>(ctx, TOKENS.Logger),
      get<Mailer>(ctx, TOKENS.Mailer),
      get<EphemeralStore>(ctx, TOKENS.Ephemeral),
    ]);
    return new ThrottledMailer(mailer, ephemeral, config.MAIL_MAX_PER_ADDRESS_PER_HOUR, logger.child({ component: 'mail' }));
  });
});
