import { TOKENS } from '../../infra/di/tokens.ts';
import { newEventId } from '../../infra/eventstore/event-ids.ts';
import { inject, injectable } from 'inversify';
import { hash } from 'node:crypto';
import { claimDecider, type ClaimEvent } from '../../domain/uniqueness/claim.ts';
import { metadataFrom, type CommandContext } from '../../domain/events.ts';
import { retryPolicies, retrying } from '../../infra/retry.ts';
import type { CommandHandler } from '../command-handling.ts';
import { WrongExpectedRevisionError, type EventStreams, type StreamAppend } from '../ports.ts';

/**
 * How long a claim whose owner does not hold the value (yet) is respected: the owner is being created, or is
 * changing to the value (its claim is stored before its change is), so a claim this young is not left behind.
 */
const COMPLETING_OWNER_GRACE_MS = 30_000;

export interface ClaimRequest {
  ownerId: string;
  field: string;
  duplicateMessage: string;
  /**
   * Whether `currentOwnerId` still holds the value: 'holds', 'released' (deleted, moved to another value, or not
   * moved to it yet), or 'absent' (no such owner yet: a claim made just before a crash, or one still being
   * completed). Either of the last two is taken over only once the claim is COMPLETING_OWNER_GRACE_MS old.
   */
  ownerStatus(currentOwnerId: string): Promise<'holds' | 'released' | 'absent'>;
}

/** Hashed so stream names carry no personal data (an email in a stream name could never be erased). */
export function claimStreamId(kind: string, ...parts: string[]): string {
  return `${kind}-${hash('sha256', parts.join('\n'), 'hex')}`;
}

/**
 * Unique values (emails) enforced by the command side on any event store: a claim stream per value,
 * appended to with an exact expectation so two concurrent claims cannot both win.
 */
@injectable()
export class ValueClaims {
  constructor(
    @inject(TOKENS.EventStore) private readonly streams: EventStreams,
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
  ) {}

  /**
   * The claim on a value nobody ever claimed, to append together with its owner's events: it needs no read,
   * and it fails with WrongExpectedRevisionError on `streamId` if the value was ever claimed (then use claim()).
   */
  firstClaim(streamId: string, ownerId: string, context: CommandContext): StreamAppend {
    return {
      streamId,
      events: [{ id: newEventId(), type: 'ValueClaimed', version: 1, data: { ownerId }, metadata: metadataFrom(context) }],
      expectedRevision: 'no_stream',
    };
  }

  async claim(streamId: string, request: ClaimRequest, context: CommandContext): Promise<void> {
    // The first try is the fast path: a value nobody ever claimed needs no read. Each later one judges the
    // claim on what its stream holds now (it moved between our read and our write, or was there already).
    await retrying(
      retryPolicies.conflict,
      async (attempt) => {
        if (attempt > 1) return this.claimExisting(streamId, request, context);
        const first = this.firstClaim(streamId, request.ownerId, context);
        await this.streams.append(first.streamId, first.events, first.expectedRevision);
      },
      { retryIf: (err) => err instanceof WrongExpectedRevisionError },
    );
  }

  private async claimExisting(streamId: string, request: ClaimRequest, context: CommandContext): Promise<void> {
    const claim = await this.handler.load<typeof claimDecider.initialState, ClaimEvent>(streamId, claimDecider);
    const currentOwner = claim.state.ownerId;
    let currentOwnerHoldsIt = false;
    if (currentOwner !== null && currentOwner !== request.ownerId) {
      // A claim this young is held whatever its owner's state says: that is read only for an older one.
      const claimedAt = Date.parse(claim.events[claim.events.length - 1]!.metadata.occurredAt);
      currentOwnerHoldsIt = context.now.getTime() - claimedAt < COMPLETING_OWNER_GRACE_MS || (await request.ownerStatus(currentOwner)) === 'holds';
    }
    await this.handler.handle(
      streamId,
      claimDecider,
      {
        type: 'ClaimValue',
        data: { ownerId: request.ownerId, currentOwnerHoldsIt, duplicateMessage: request.duplicateMessage, field: request.field },
      },
      context,
      { expectedRevision: claim.revision },
    );
  }

  /** Best effort: a claim left behind is recognised as stale by the next claimant. */
  async release(streamId: string, ownerId: string, context: CommandContext): Promise<void> {
    await this.handler.handle(streamId, claimDecider, { type: 'ReleaseValue', data: { ownerId } }, context);
  }
}
