import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import { randomUUID } from 'node:crypto';
import type { CommandContext } from '../../domain/events.ts';
import { integrationDecider, integrationStream, type IntegrationEvent } from '../../domain/integrations/integration.ts';
import { operationsDecider, readModelStream } from '../../domain/operations/operations.ts';
import type { ParkedEventRetries } from '../operations/parked-event-retries.ts';
import type { DraftPlan, RevisePlan } from '../../domain/plans/plan.ts';
import { requireStaffPermission, type StaffPermission } from '../../domain/staff/staff-permissions.ts';
import type { ParkedEventRetryOutcome } from '../../projectors/runner/parked-events.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { OrganizationCommands } from '../organizations/organization-commands.ts';
import type { PlanCommands } from '../plans/plan-commands.ts';
import type { SignedInStaff } from './staff-accounts.ts';

/** Who asks, from where: a signed-in staff member's request to the console. */
export interface StaffRequest {
  staff: SignedInStaff;
  correlationId: string;
  ip?: string;
  userAgent?: string;
}

export interface RebuildStarter {
  requireStartable(readModel: string): unknown;
  start(readModel: string): unknown;
}

export interface ImpersonationTokens {
  issueAccessOnly(claims: {
    userId: string;
    organizationId: string;
    role: string;
    sessionId: string;
  }): Promise<{ accessToken: string; expiresIn: number }>;
}

/**
 * Everything staff can change, as commands through the same handlers the API uses. Each method checks the
 * staff role first (the console only hides what a role may not do; this refuses it), and every fact
 * recorded carries the staff member as its actor.
 */
@injectable()
export class StaffConsole {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.OrganizationCommands) private readonly organizations: OrganizationCommands,
    @inject(TOKENS.PlanCommands) private readonly plans: PlanCommands,
    @inject(TOKENS.ParkedEventRetries) private readonly parked: Pick<ParkedEventRetries, 'retry'>,
    @inject(TOKENS.RebuildJobs) private readonly rebuilds: RebuildStarter,
    @inject(TOKENS.Tokens) private readonly tokens: ImpersonationTokens,
  ) {}

  async suspend(request: StaffRequest, organizationId: string, reason: string) {
    return this.organizations.suspend(this.context(request, 'tenants:suspend', organizationId), organizationId, reason);
  }

  async reactivate(request: StaffRequest, organizationId: string) {
    return this.organizations.reactivate(this.context(request, 'tenants:suspend', organizationId), organizationId);
  }

  async changePlan(request: StaffRequest, organizationId: string, planId: string) {
    return this.organizations.changePlan(this.context(request, 'tenants:changePlan', organizationId), organizationId, planId);
  }

  async extendTrial(request: StaffRequest, organizationId: string, trialEndsAt: string) {
    return this.organizations.extendTrial(this.context(request, 'tenants:extendTrial', organizationId), organizationId, trialEndsAt);
  }

  /**
   * Read-only access to an organization's data through the API: recorded in the organization's own stream
   * first, then an access token of the viewer role, with no refresh token, for the staff member.
   */
  async impersonate(
    request: StaffRequest,
    organizationId: string,
    reason: string,
  ): Promise<{ accessToken: string; expiresAt: string; impersonationId: string }> {
    const context = this.context(request, 'tenants:impersonate', organizationId);
    const impersonationId = randomUUID();
    const probe = await this.tokens.issueAccessOnly({ userId: request.staff.id, organizationId, role: 'viewer', sessionId: impersonationId });
    const expiresAt = new Date(context.now.getTime() + probe.expiresIn * 1000).toISOString();
    await this.organizations.startImpersonation(context, { organizationId, impersonationId, staffId: request.staff.id, expiresAt, reason });
    return { accessToken: probe.accessToken, expiresAt, impersonationId };
  }

  async draftPlan(request: StaffRequest, terms: Omit<DraftPlan['data'], 'planId'>) {
    return this.plans.draft(this.context(request, 'plans:manage', null), terms);
  }

  async revisePlan(request: StaffRequest, changes: RevisePlan['data'], expectedRevision?: number) {
    return this.plans.revise(this.context(request, 'plans:manage', null), changes, expectedRevision);
  }

  async activatePlan(request: StaffRequest, planId: string) {
    return this.plans.activate(this.context(request, 'plans:manage', null), planId);
  }

  async retirePlan(request: StaffRequest, planId: string) {
    return this.plans.retire(this.context(request, 'plans:manage', null), planId);
  }

  /** Retries the event, then records what happened (resolved or the new error) with the staff actor. */
  async retryParkedEvent(request: StaffRequest, parkedEventId: string): Promise<ParkedEventRetryOutcome> {
    return this.parked.retry(this.context(request, 'parkedEvents:retry', null), parkedEventId);
  }

  async rebuild(request: StaffRequest, readModel: string): Promise<void> {
    const context = this.context(request, 'projections:rebuild', null);
    this.rebuilds.requireStartable(readModel);
    await this.handler.handle(readModelStream(readModel), operationsDecider, { type: 'RecordRebuildStarted', data: { readModel } }, context);
    this.rebuilds.start(readModel);
  }

  /**
   * A forced sync of every mapped field, in the integration's own direction, as a new run: the sync process
   * picks it up like a run started through the API. Refused (409) while another run is in progress.
   */
  async forceIntegrationSync(request: StaffRequest, organizationId: string, integrationId: string) {
    const context = this.context(request, 'integrations:forceSync', organizationId);
    const stream = integrationStream(integrationId);
    const known = await this.handler.loadFor<typeof integrationDecider.initialState, IntegrationEvent>(stream, integrationDecider, context);
    const direction = known.state.status === 'absent' ? 'both' : known.state.settings.direction;
    const runId = randomUUID();
    const outcome = await this.handler.handle(
      stream,
      integrationDecider,
      { type: 'StartSync', data: { organizationId, integrationId, runId, kind: 'forced', direction } },
      context,
      { known },
    );
    return { runId, position: outcome.position };
  }

  /** Disconnects an integration; destroying its sealed credentials is the credentials process's, from the event. */
  async disconnectIntegration(request: StaffRequest, organizationId: string, integrationId: string) {
    const context = this.context(request, 'integrations:disconnect', organizationId);
    return this.handler.handle(
      integrationStream(integrationId),
      integrationDecider,
      { type: 'Disconnect', data: { organizationId, integrationId } },
      context,
    );
  }

  /** Tenant-level facts carry the organization as their tenant, so its own audit trail shows staff actions. */
  private context(request: StaffRequest, permission: StaffPermission, tenantId: string | null): CommandContext {
    requireStaffPermission(request.staff.role, permission);
    return {
      tenantId,
      actor: { type: 'staff', id: request.staff.id },
      correlationId: request.correlationId,
      causationId: randomUUID(),
      now: new Date(),
      ...(request.ip ? { ip: request.ip } : {}),
      ...(request.userAgent ? { userAgent: request.userAgent } : {}),
    };
  }
}
