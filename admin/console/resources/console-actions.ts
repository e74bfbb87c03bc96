import type { MikroORM } from '@mikro-orm/postgresql';
import type { ActionContext, ActionRequest, ParamsType, RecordActionResponse } from 'adminjs';
import type { SignedInStaff } from '../../../command-api/staff/staff-accounts.ts';
import type { StaffConsole, StaffRequest } from '../../../command-api/staff/staff-console.ts';
import type { RecordedEvent } from '../../../domain/events.ts';
import { staffMay, type StaffPermission } from '../../../domain/staff/staff-permissions.ts';
import type { ProjectionsSource } from '../projections-resource.ts';
import { commandOf, staffOf } from '../read-model-resource.ts';

/** What the console's resources read from and act through. */
export interface ConsoleResourceDeps {
  orm: MikroORM;
  streams: { readStream(streamId: string): Promise<RecordedEvent[]> };
  staffConsole: StaffConsole;
  projections: ProjectionsSource;
  /** Waits for the named projections to reach a command's position (bounded). */
  settle(projections: readonly string[], position: string | null): Promise<void>;
  /** Keeps an impersonation token for one viewing by the staff member who asked; returns where to view it. */
  holdImpersonation(staff: SignedInStaff, grant: { organizationId: string; accessToken: string; expiresAt: string }): Promise<string>;
  /** Correlation id, IP and user agent of the console request that runs an action. */
  requestOf(context: ActionContext, staff: SignedInStaff): StaffRequest;
}

const ROOT = '/admin';

/** The navigation groups of the console's sidebar. */
export const navigation = {
  tenants: { name: 'Tenants', icon: 'Briefcase' },
  catalog: { name: 'Catalog', icon: 'ShoppingBag' },
  activity: { name: 'Activity', icon: 'Activity' },
  operations: { name: 'Operations', icon: 'Settings' },
};

/** Whether the signed-in staff member's role grants `permission` (AdminJS's isAccessible). */
export const may =
  (permission: StaffPermission) =>
  ({ currentAdmin }: { currentAdmin?: unknown }) =>
    Boolean(currentAdmin && staffMay((currentAdmin as SignedInStaff).role, permission));

export const readOnly = {
  new: { isAccessible: false },
  edit: { isAccessible: false },
  delete: { isAccessible: false },
  bulkDelete: { isAccessible: false },
};

/** A property's fixed choices. */
export const enumOf = (...values: string[]) => ({ availableValues: values.map((value) => ({ value, label: value })) });
export const notEditable = { isVisible: { list: true, filter: true, show: true, edit: false } };
export const detailOnly = { isVisible: { list: false, filter: false, show: true, edit: false } };

/** The record action that opens a record's history: the events of its stream, newest first. */
export function historyAction(streamOf: (id: string) => string) {
  return {
    actionType: 'record' as const,
    icon: 'Clock',
    component: false as const,
    isAccessible: may('console:read'),
    handler: async (_request: ActionRequest, _response: unknown, context: ActionContext): Promise<RecordActionResponse> => {
      const record = context.record!;
      const stream = streamOf(String(record.id()));
      return {
        record: record.toJSON(context.currentAdmin),
        redirectUrl: `${ROOT}/resources/History?filters.streamId=${encodeURIComponent(stream)}`,
      };
    },
  };
}

/** A record action that dispatches one staff command and reports the outcome as a notice. */
export function commandAction(options: {
  permission: StaffPermission;
  icon: string;
  guard: string;
  isVisible?: (record: ParamsType) => boolean;
  run(context: ActionContext, staff: SignedInStaff, record: ParamsType): Promise<{ message: string; redirectUrl?: string }>;
}) {
  return {
    actionType: 'record' as const,
    icon: options.icon,
    component: false as const,
    guard: options.guard,
    isAccessible: may(options.permission),
    ...(options.isVisible ? { isVisible: ({ record }: { record?: { params: ParamsType } }) => !record || options.isVisible!(record.params) } : {}),
    // A refused command comes back as the console's error notice (AdminJS's action error handling).
    handler: async (_request: ActionRequest, _response: unknown, context: ActionContext): Promise<RecordActionResponse> => {
      const staff = staffOf(context);
      const record = context.record!;
      const outcome = await commandOf(() => options.run(context, staff, record.params));
      const fresh = (await context.resource.findOne(String(record.id()), context)) ?? record;
      return {
        record: fresh.toJSON(context.currentAdmin),
        notice: { message: outcome.message, type: 'success' },
        ...(outcome.redirectUrl ? { redirectUrl: outcome.redirectUrl } : {}),
      };
    },
  };
}
