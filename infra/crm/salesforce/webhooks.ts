import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CrmWebhooks, WebhookDelivery, WebhookNotice } from '../../../projectors/integrations/ports.ts';
import { isSalesforceId } from './soql.ts';

/**
 * Salesforce has no signed webhooks of its own. Ours is an HTTP callout the customer's org makes from a
 * record-triggered Flow (or an Apex trigger) on Contact: it posts a JSON list of the changed Contact ids and
 * signs the raw body with the integration's webhook secret, as
 *
 *   X-NexusFlow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
 *
 * (several v1 values may be given while a secret is rotated). A delivery is accepted within five minutes of
 * its `t`, so a captured delivery cannot be replayed later; and it only names ids: the sync fetches those
 * contacts itself, so even a replayed body writes nothing.
 */
export const SIGNATURE_HEADER = 'x-nexusflow-signature';
export const TOLERANCE_MS = 5 * 60_000;
const MAX_IDS = 2_000;

export class SalesforceWebhooks implements CrmWebhooks {
  verify(delivery: WebhookDelivery, secrets: { clientSecret: string; integrationSecret: string }): WebhookNotice | null {
    const header = headerOf(delivery.headers, SIGNATURE_HEADER);
    if (!header || !secrets.integrationSecret) return null;
    const parts = header.split(',').map((part) => part.trim().split('='));
    const t = parts.find(([name]) => name === 't')?.[1];
    const signatures = parts
      .filter(([name, value]) => name === 'v1' && value && /^[0-9a-f]{64}$/i.test(value))
      .map(([, value]) => Buffer.from(value!, 'hex'));
    if (!t || !/^\d{1,12}$/.test(t) || signatures.length === 0) return null;
    if (Math.abs(delivery.now.getTime() - Number(t) * 1000) > TOLERANCE_MS) return null;
    const expected = createHmac('sha256', secrets.integrationSecret).update(`${t}.`).update(delivery.rawBody).digest();
    if (!signatures.some((signature) => signature.length === expected.length && timingSafeEqual(signature, expected))) return null;
    let ids: unknown;
    try {
      ids = JSON.parse(delivery.rawBody.toString('utf8'));
    } catch {
      return null;
    }
    if (!Array.isArray(ids) || ids.length > MAX_IDS || !ids.every((id) => typeof id === 'string' && isSalesforceId(id))) return null;
    return { externalIds: [...new Set(ids as string[])] };
  }
}

function headerOf(headers: WebhookDelivery['headers'], name: string): string | null {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
  }
  return null;
}
