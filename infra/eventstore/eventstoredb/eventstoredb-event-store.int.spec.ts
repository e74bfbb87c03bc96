import { eventStoreContract } from '../event-store.contract.ts';
import { EventStoreDbEventStore } from './eventstoredb-event-store.ts';

const url = process.env.EVENTSTORE_URL;

if (url) {
  eventStoreContract(
    `EventStoreDB at ${url.replace(/\/\/[^@]*@/, '//***@')}`,
    async () => {
      const store = new EventStoreDbEventStore(url);
      return { store, close: () => store.close() };
    },
    { atomicAppends: false, bulkAppends: true },
  );
} else {
  describe.skip('event store contract: EventStoreDB — skipped: EVENTSTORE_URL is not set (EventStoreDB cannot run on this machine)', () => {
    it('runs the whole contract against EventStoreDB', () => undefined);
  });
}
