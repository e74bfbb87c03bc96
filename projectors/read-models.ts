import { contactEmbeddingsProjection } from './ai/embeddings-projection.ts';
import { auditLogProjection } from './audit/audit-log-projection.ts';
import { ApiKeyViewSchema } from './api-keys/api-key-view.ts';
import { apiKeysProjection } from './api-keys/api-keys-projection.ts';
import { billingProjection } from './billing/billing-projection.ts';
import { BillingAccountViewSchema, BillingInvoiceViewSchema } from './billing/billing-views.ts';
import { meteringProjection } from './billing/metering-projection.ts';
import {
  UsageDailyViewSchema,
  UsageGaugeMemberViewSchema,
  UsageMeterEventViewSchema,
  UsageOrganizationViewSchema,
} from './billing/metering-views.ts';
import { ContactViewSchema } from './contacts/contact-view.ts';
import { contactsProjection } from './contacts/contacts-projection.ts';
import { IntegrationSyncRunViewSchema, IntegrationViewSchema } from './integrations/integration-view.ts';
import { integrationsProjection } from './integrations/integrations-projection.ts';
import { crmSyncProjection } from './integrations/sync/sync-projection.ts';
import { OrganizationViewSchema } from './organizations/organization-view.ts';
import { organizationsProjection } from './organizations/organizations-projection.ts';
import { PlanViewSchema } from './plans/plan-view.ts';
import { plansProjection } from './plans/plans-projection.ts';
import { StaffViewSchema } from './staff/staff-view.ts';
import { staffProjection } from './staff/staff-projection.ts';
import { ParkedEventSchema, ProjectionCheckpointSchema } from './runner/runner-tables.ts';
import type { Projection } from './runner/projection.ts';
import { InvitationViewSchema } from './users/invitation-view.ts';
import { invitationsProjection } from './users/invitations-projection.ts';
import { UserViewSchema } from './users/user-view.ts';
import { usersProjection } from './users/users-projection.ts';
import { executionsProjection } from './workflows/executions-projection.ts';
import {
  ExecutionQueueSchema,
  ExecutionStepViewSchema,
  ExecutionViewSchema,
  ScheduleSchema,
  WorkflowViewSchema,
} from './workflows/workflow-views.ts';
import { schedulesProjection } from './workflows/schedules-projection.ts';
import { workflowsProjection } from './workflows/workflows-projection.ts';

/** Every read-model entity the ORM must know about. */
export const readModelEntities = [
  ContactViewSchema,
  OrganizationViewSchema,
  UserViewSchema,
  InvitationViewSchema,
  ApiKeyViewSchema,
  WorkflowViewSchema,
  ExecutionViewSchema,
  ExecutionStepViewSchema,
  ExecutionQueueSchema,
  ScheduleSchema,
  ProjectionCheckpointSchema,
  ParkedEventSchema,
  PlanViewSchema,
  StaffViewSchema,
  IntegrationViewSchema,
  IntegrationSyncRunViewSchema,
  BillingAccountViewSchema,
  BillingInvoiceViewSchema,
  UsageDailyViewSchema,
  UsageGaugeMemberViewSchema,
  UsageOrganizationViewSchema,
  UsageMeterEventViewSchema,
];

/** Every projection the projector process runs. */
export const projections: Projection[] = [
  contactsProjection,
  organizationsProjection,
  usersProjection,
  invitationsProjection,
  apiKeysProjection,
  workflowsProjection,
  executionsProjection,
  schedulesProjection,
  plansProjection,
  staffProjection,
  auditLogProjection,
  integrationsProjection,
  crmSyncProjection,
  billingProjection,
  meteringProjection,
  contactEmbeddingsProjection,
];

/** The tables each read-model projection alone writes: what `nexusflow projections reset` empties. */
export const projectionTables: Readonly<Record<string, readonly string[]>> = {
  contacts: ['contacts'],
  organizations: ['organizations'],
  users: ['users'],
  invitations: ['invitations'],
  apiKeys: ['api_keys'],
  workflows: ['workflows'],
  executions: ['workflow_execution_steps', 'workflow_execution_queue', 'workflow_executions'],
  'workflow-schedules': ['workflow_schedules'],
  plans: ['plans'],
  staff: ['staff_members'],
  audit: ['audit_log', 'audit_tenants'],
  integrations: ['integration_sync_runs', 'integrations'],
  // Its links (crm_sync_links) are the sync's own memory, not rebuilt from the log: a reset keeps them.
  'crm-sync': ['crm_sync_outbound', 'crm_sync_integrations'],
  billing: ['billing_invoices', 'billing_accounts'],
  // usage_meter_events is the usage reporter's memory of what Stripe was told, not rebuilt from the log: a reset keeps it.
  metering: ['usage_daily', 'usage_gauge_members', 'usage_organizations'],
  // Vectors are paid for: a reset embeds every contact again (tokens of the organizations' allowances).
  'ai-embeddings': ['ai_embeddings', 'ai_embedding_removals', 'ai_embedding_executions'],
};
