import type { CrmWebhooks, WebhookDelivery, WebhookNotice } from '../../../projectors/integrations/ports.ts';
import { secretsEqual } from '../rest/rest.ts';

/**
 * Zoho CRM notifications: the channel is created with a `token` of ours (the integration's webhook secret) and
 * Zoho echoes it in every body (`{ module, operation, ids, token, channel_id, … }`). Zoho signs nothing, so the
 * echoed token is the only proof: compared in constant time. Only `ids` of the Contacts module are taken.
 */
export class ZohoWebhooks implements CrmWebhooks {
  verify(delivery: WebhookDelivery, secrets: { clientSecret: string; integrationSecret: string }): WebhookNotice | null {
    let body: { token?: unknown; ids?: unknown; module?: unknown };
    try {
      body = JSON.parse(delivery.rawBody.toString('utf8')) as typeof body;
    } catch {
      return null;
    }
    if (typeof body !== 'object' || body === null || typeof body.token !== 'string') return null;
    if (!secretsEqual(body.token, secrets.integrationSecret)) return null;
    if (body.module !== undefined && body.module !== 'Contacts') return { externalIds: [] };
    const ids = Array.isArray(body.ids) ? body.ids.map(String).filter((id) => /^\d+$/.test(id)) : [];
    return { externalIds: [...new Set(ids)] };
  }
}
