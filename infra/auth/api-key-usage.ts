import { newEventId } from '../eventstore/event-ids.ts';
import type { EventStreams } from '../../command-api/ports.ts';
import { WrongExpectedRevisionError } from '../../command-api/ports.ts';
import { apiKeyDecider, apiKeyStream, type ApiKeyEvent } from '../../domain/api-keys/api-key.ts';
import { fold } from '../../domain/decider.ts';
import { metadataFrom, type CommandContext, type NewEvent } from '../../domain/events.ts';
import { organizationDecider, organizationStream, type OrganizationEvent } from '../../domain/organizations/organization.ts';
import type { Membership } from '../../command-api/users/membership.ts';

/**
 * "Last used" of an API key, recorded by whichever process authenticated the request (the query API too,
 * which runs no command handlers): the key's decider says whether the use is recorded, and it is appended
 * with the revision read. A concurrent change to the key wins: a usage mark is at most a minute's news.
 */
export class ApiKeyUsageRecorder {
  constructor(private readonly streams: Pick<EventStreams, 'readStream' | 'append'>) {}

  async record(key: { keyId: string; organizationId: string }, context: CommandContext): Promise<void> {
    const streamId = apiKeyStream(key.keyId);
    const history = await this.streams.readStream(streamId);
    const events = apiKeyDecider.decide({ type: 'RecordApiKeyUse', data: key }, fold(apiKeyDecider, history as unknown as ApiKeyEvent[]));
    if (events.length === 0) return;
    const metadata = metadataFrom(context);
    const appended = events.map((event) => ({ id: newEventId(), ...event, metadata }) as NewEvent);
    try {
      await this.streams.append(streamId, appended, history.length === 0 ? 'no_stream' : history[history.length - 1]!.revision);
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError)) throw err;
    }
  }
}

/** A user's role and status in their organization, read from the organization's stream (the source of truth). */
export function membershipFromLog(streams: Pick<EventStreams, 'readStream'>) {
  return async (organizationId: string, userId: string): Promise<Membership | null> => {
    const state = fold(organizationDecider, (await streams.readStream(organizationStream(organizationId))) as unknown as OrganizationEvent[]);
    if (state.status === 'absent') return null;
    const member = state.members[userId];
    return member ? { role: member.role, active: member.active } : null;
  };
}
