import { randomUUID } from 'node:crypto';
import type { ContactEvent } from '../../domain/contacts/contact.ts';
import type { NewEvent } from '../../domain/events.ts';
import type { OrganizationEvent } from '../../domain/organizations/organization.ts';
import { newEventId } from '../../infra/eventstore/event-ids.ts';
import { testMetadata } from './events.ts';

/** Domain facts as the command side would record them (event ids included: see newEventId), for feeding projections directly. */
export const facts = {
  organizationCreated(organizationId = randomUUID(), name = 'Acme'): NewEvent<OrganizationEvent> {
    return {
      id: newEventId(),
      type: 'OrganizationCreated',
      version: 2,
      data: { organizationId, name, ownerUserId: randomUUID(), timezone: 'UTC', ownerEmail: null, trialEndsAt: null },
      metadata: testMetadata({ tenantId: organizationId }),
    };
  },
  contactCreated(organizationId: string, contactId = randomUUID(), email = `${contactId}@example.com`, tags: string[] = []): NewEvent<ContactEvent> {
    return {
      id: newEventId(),
      type: 'ContactCreated',
      version: 1,
      data: {
        contactId,
        organizationId,
        email,
        firstName: 'Ada',
        lastName: 'Lovelace',
        phone: null,
        company: null,
        title: null,
        timezone: null,
        customFields: {},
        tags,
      },
      metadata: testMetadata({ tenantId: organizationId }),
    };
  },
  contactEvent(organizationId: string, event: Omit<NewEvent<ContactEvent>, 'id' | 'metadata' | 'version'>): NewEvent<ContactEvent> {
    return { id: newEventId(), version: 1, metadata: testMetadata({ tenantId: organizationId }), ...event } as NewEvent<ContactEvent>;
  },
};
