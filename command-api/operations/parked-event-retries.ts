import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import type { CommandContext } from '../../domain/events.ts';
import { operationsDecider, parkedEventStream } from '../../domain/operations/operations.ts';
import type { ParkedEventRetryOutcome } from '../../projectors/runner/parked-events.ts';
import type { CommandHandler } from '../command-handling.ts';

export interface ParkedEventRetrier {
  retry(parkedEventId: string): Promise<ParkedEventRetryOutcome>;
}

/**
 * A retry of a parked event, from the console or the command line: the event is applied again, then what
 * happened (resolved, or the new error) is recorded in the parked event's own stream with who asked.
 */
@injectable()
export class ParkedEventRetries {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.ParkedEvents) private readonly retrier: ParkedEventRetrier,
  ) {}

  async retry(context: CommandContext, parkedEventId: string): Promise<ParkedEventRetryOutcome> {
    const outcome = await this.retrier.retry(parkedEventId);
    await this.handler.handle(parkedEventStream(parkedEventId), operationsDecider, { type: 'RecordParkedEventRetry', data: outcome }, context);
    return outcome;
  }
}
