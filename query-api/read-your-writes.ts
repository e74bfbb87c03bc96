import type Koa from 'koa';
import { ProblemError } from '../infra/http/problem.ts';
import type { AnyRoute } from '../infra/http/routes.ts';
import type { ReadModelProgress } from './ports.ts';

/**
 * X-Min-Position: answer only once the route's read models include the client's write. Bounded: after
 * `timeoutMs` the answer is 503 with Retry-After rather than stale data the client asked not to get.
 */
export function readYourWrites(progress: ReadModelProgress, timeoutMs: number) {
  return async (ctx: Koa.ParameterizedContext, route: AnyRoute): Promise<void> => {
    const position = ctx.get('X-Min-Position').trim();
    if (!position || !route.readModels?.length) return;
    if (!progress.isValidPosition(position)) {
      throw ProblemError.validation([{ name: 'X-Min-Position', reason: 'must be a position returned by a command' }]);
    }
    if (await progress.waitFor(route.readModels, position, 0)) return;
    // Not there yet: wait, and meanwhile check the position. One the log has not reached was never answered
    // by a command: waiting for it could only time out, so it is the client's mistake. The check (a query)
    // runs beside the wait, not before it: a read answers as soon as its read models commit the position.
    const reached = progress.waitFor(route.readModels, position, timeoutMs);
    const beyondHead = progress.isBeyondHead(position).then(
      (beyond): Promise<boolean | 'beyond'> | 'beyond' => (beyond ? 'beyond' : reached),
      () => reached, // the check failed (the store is unreachable): the wait decides
    );
    const outcome = await Promise.race([reached, beyondHead]);
    if (outcome === 'beyond') {
      throw ProblemError.validation([
        { name: 'X-Min-Position', reason: 'is beyond the newest position of the log: send a position a command answered' },
      ]);
    }
    if (!outcome) {
      throw new ProblemError(
        503,
        'Read models are behind',
        `The read models did not reach position ${position} within ${timeoutMs} ms; retry shortly.`,
        { code: 'read_models_behind' },
        { 'Retry-After': '1' },
      );
    }
  };
}
