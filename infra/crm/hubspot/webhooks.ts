import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CrmWebhooks, WebhookDelivery, WebhookNotice } from '../../../projectors/integrations/ports.ts';

/** HubSpot's documentation tells receivers to reject a request timestamp older than 5 minutes. */
export const HUBSPOT_WEBHOOK_TOLERANCE_MS = 5 * 60_000;

/** The escapes HubSpot decodes in the request URI before it signs (and the receiver must too). */
const DECODED: Readonly<Record<string, string>> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

/**
 * HubSpot's request signature v3 (https://developers.hubspot.com/docs/api/webhooks/validating-requests):
 * `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(app client secret, method + URI + raw body + timestamp)), with
 * `X-HubSpot-Request-Timestamp` in epoch milliseconds. The URI is the full URL HubSpot called, with the escapes
 * above decoded. We refuse a timestamp more than 5 minutes from our clock either way (a replay, or a clock
 * that far off), and the older v1/v2 signatures altogether (no timestamp: replayable).
 *
 * The body is HubSpot's array of subscription events; we keep only the ids of contact events (contact.* and
 * the generic object.* for object type 0-1), merges included (both sides of a merge changed). A verified body
 * still only names ids: the sync fetches them.
 */
export class HubSpotWebhooks implements CrmWebhooks {
  verify(delivery: WebhookDelivery, secrets: { clientSecret: string; integrationSecret: string }): WebhookNotice | null {
    const signature = header(delivery.headers, 'x-hubspot-signature-v3');
    const timestamp = header(delivery.headers, 'x-hubspot-request-timestamp');
    if (!signature || !timestamp || !/^\d{1,16}$/.test(timestamp) || !secrets.clientSecret) return null;
    if (Math.abs(delivery.now.getTime() - Number(timestamp)) > HUBSPOT_WEBHOOK_TOLERANCE_MS) return null;
    const expected = signV3(secrets.clientSecret, delivery.method.toUpperCase(), delivery.url, delivery.rawBody, timestamp);
    const given = Buffer.from(signature, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return { externalIds: contactIds(delivery.rawBody) };
  }
}

export function signV3(clientSecret: string, method: string, url: string, rawBody: Buffer, timestamp: string): Buffer {
  const uri = url.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (escape) => DECODED[escape.toUpperCase()] ?? escape);
  return createHmac('sha256', clientSecret).update(method).update(uri).update(rawBody).update(timestamp).digest();
}

function header(headers: WebhookDelivery['headers'], name: string): string | null {
  const value = headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  return typeof value === 'string' ? value : Array.isArray(value) && typeof value[0] === 'string' ? value[0] : null;
}

interface SubscriptionEvent {
  subscriptionType?: unknown;
  objectTypeId?: unknown;
  objectId?: unknown;
  mergedObjectIds?: unknown;
  primaryObjectId?: unknown;
  newObjectId?: unknown;
}

function contactIds(rawBody: Buffer): string[] {
  let events: unknown;
  try {
    events = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return [];
  }
  if (!Array.isArray(events)) return [];
  const ids = new Set<string>();
  for (const event of events as SubscriptionEvent[]) {
    if (typeof event !== 'object' || event === null) continue;
    const type = typeof event.subscriptionType === 'string' ? event.subscriptionType : '';
    const isContact = type.startsWith('contact.') || (type.startsWith('object.') && event.objectTypeId === '0-1');
    if (!isContact) continue;
    const candidates = [
      event.objectId,
      event.primaryObjectId,
      event.newObjectId,
      ...(Array.isArray(event.mergedObjectIds) ? event.mergedObjectIds : []),
    ];
    for (const id of candidates)
      if ((typeof id === 'number' && Number.isSafeInteger(id)) || (typeof id === 'string' && /^\d+$/.test(id))) ids.add(String(id));
  }
  return [...ids];
}
