import type { DomainEvent } from './events.ts';

/**
 * Old versions of events, upgraded on read. The log keeps every event as it was written, forever; when an
 * event's schema changes, its type gets a new version and an upcaster from the previous one, and every
 * reader (deciders, projections, replays, exports) sees only the newest shape. Upcasters are pure and chain:
 * v1 → v2 → v3.
 */
export interface Upcaster {
  type: string;
  /** The version it upgrades from (to fromVersion + 1). */
  fromVersion: number;
  upcast(data: Record<string, unknown>): Record<string, unknown>;
}

export const upcasters: readonly Upcaster[] = [
  {
    // v2 says the owner's email and the trial end always (null when unknown or none): v1 had an optional
    // ownerEmail (missing in the first organizations) and no trial at all.
    type: 'OrganizationCreated',
    fromVersion: 1,
    upcast: (data) => ({ ...data, ownerEmail: typeof data.ownerEmail === 'string' ? data.ownerEmail : null, trialEndsAt: null }),
  },
  {
    // v2 may say the step's start with its completion (`started`); v1 never does: the same data.
    type: 'StepCompleted',
    fromVersion: 1,
    upcast: (data) => data,
  },
];

const byTypeAndVersion = new Map(upcasters.map((u) => [`${u.type}@${u.fromVersion}`, u]));

/** The newest version of each type that has upcasters. */
export const latestVersions: ReadonlyMap<string, number> = upcasters.reduce(
  (latest, u) => latest.set(u.type, Math.max(latest.get(u.type) ?? 1, u.fromVersion + 1)),
  new Map<string, number>(),
);

/** The event in its newest version (the same object when it already is). */
export function upcast<E extends Pick<DomainEvent, 'type' | 'version' | 'data'>>(event: E): E {
  let current = event;
  for (
    let upcaster = byTypeAndVersion.get(`${current.type}@${current.version}`);
    upcaster;
    upcaster = byTypeAndVersion.get(`${current.type}@${current.version}`)
  ) {
    current = { ...current, version: current.version + 1, data: upcaster.upcast(current.data as Record<string, unknown>) };
  }
  return current;
}
