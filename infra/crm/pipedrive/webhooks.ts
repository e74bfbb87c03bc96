import type { CrmWebhooks, WebhookDelivery, WebhookNotice } from '../../../projectors/integrations/ports.ts';
import { secretsEqual } from '../rest/rest.ts';

/** The user name we register webhooks with (not a secret: the password is the integration's webhook secret). */
export const PIPEDRIVE_WEBHOOK_USER = 'nexusflow';

/**
 * Pipedrive signs nothing: a webhook (v2) is authenticated by the HTTP Basic credentials given when it was
 * created (`http_auth_user` / `http_auth_password`), and we set the integration's webhook secret as the password.
 * It is compared in constant time; the user name is not checked (it is not secret). The body's
 * `meta.entity_id` names the person; nothing else in it is used (the sync fetches the person).
 */
export class PipedriveWebhooks implements CrmWebhooks {
  verify(delivery: WebhookDelivery, secrets: { clientSecret: string; integrationSecret: string }): WebhookNotice | null {
    const header = delivery.headers['authorization'];
    const value = Array.isArray(header) ? header[0] : header;
    const match = value ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(value) : null;
    if (!match) return null;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0 || !secretsEqual(decoded.slice(colon + 1), secrets.integrationSecret)) return null;
    let body: { meta?: { entity?: unknown; entity_id?: unknown; object?: unknown; id?: unknown } };
    try {
      body = JSON.parse(delivery.rawBody.toString('utf8')) as typeof body;
    } catch {
      return null;
    }
    const meta = body?.meta ?? {};
    // v2 names the entity `meta.entity` / `meta.entity_id`; v1 webhooks said `meta.object` / `meta.id`.
    const entity = meta.entity ?? meta.object;
    const id = meta.entity_id ?? meta.id;
    if (entity !== 'person' || (typeof id !== 'string' && typeof id !== 'number') || !/^\d+$/.test(String(id))) return { externalIds: [] };
    return { externalIds: [String(id)] };
  }
}
