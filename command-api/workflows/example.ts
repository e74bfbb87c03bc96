/**
 * The example /openapi.json shows for POST /workflows: post it as is, then run it on a contact with
 * POST /workflows/{id}/run {"contactId": "..."}. Five steps: an email, a wait, a branch on a tag, a tag or a
 * follow-up email.
 */
export const exampleWorkflow = {
  name: 'New lead nurture',
  description: 'Welcome, wait two days, then tag VIPs as hot leads and follow up with everyone else.',
  trigger: { type: 'manual' },
  settings: {
    timezone: 'Europe/London',
    sendWindow: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00' },
    exitOn: ['replied', 'bounced', 'unsubscribed'],
    exitAction: 'stop',
    mailbox: 'sales@acme.test',
  },
  steps: [
    {
      id: 'welcome',
      type: 'send_email',
      config: { subject: 'Welcome, {{contact.firstName}}', body: 'Hi {{contact.firstName}},\n\nThanks for your interest in Acme.' },
      next: 'wait-2-days',
    },
    { id: 'wait-2-days', type: 'wait', config: { duration: 'P2D' }, next: 'is-vip' },
    {
      id: 'is-vip',
      type: 'condition',
      config: { match: 'all', rules: [{ field: 'tags', operator: 'contains', value: 'vip' }] },
      branches: { true: 'tag-hot', false: 'follow-up' },
    },
    { id: 'tag-hot', type: 'add_tag', config: { tag: 'hot-lead' }, next: null },
    {
      id: 'follow-up',
      type: 'send_email',
      config: { subject: 'Any questions, {{contact.firstName}}?', body: 'Just checking in. Reply to this email any time.' },
      next: null,
      retry: { maxAttempts: 5, initialDelayMs: 60000 },
    },
  ],
};
