import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import type { CommandContext } from '../../domain/events.ts';
import { organizationDecider, organizationStream, type Organization } from '../../domain/organizations/organization.ts';
import { planDecider, planStream } from '../../domain/plans/plan.ts';
import type { CommandHandler, CommandOutcome } from '../command-handling.ts';
import type { OrganizationStatusCache } from './organization-status.ts';

/**
 * Commands on an organization itself. Renaming and the AI setting are for its own managers; suspending and reactivating are
 * staff actions (the admin console dispatches them through here, with a staff actor).
 */
@injectable()
export class OrganizationCommands {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.OrganizationStatus) private readonly status: OrganizationStatusCache,
  ) {}

  rename(context: CommandContext, organizationId: string, name: string, expectedRevision?: number): Promise<CommandOutcome<Organization>> {
    return this.handler.handle(
      organizationStream(organizationId),
      organizationDecider,
      { type: 'RenameOrganization', data: { organizationId, name } },
      context,
      expectedRevision === undefined ? {} : { expectedRevision },
    );
  }

  /**
   * Turns the AI service on or off for the organization. Every process keeps the setting with the
   * organization's status (OrganizationStatusCache.aiEnabled): a change is announced so that each drops its copy.
   */
  async changeAiSettings(
    context: CommandContext,
    organizationId: string,
    enabled: boolean,
    expectedRevision?: number,
  ): Promise<CommandOutcome<Organization>> {
    const outcome = await this.handler.handle(
      organizationStream(organizationId),
      organizationDecider,
      { type: 'ChangeAiSettings', data: { organizationId, enabled } },
      context,
      expectedRevision === undefined ? {} : { expectedRevision },
    );
    if (outcome.appended.length > 0) await this.status.changed(organizationId);
    return outcome;
  }

  async suspend(context: CommandContext, organizationId: string, reason: string): Promise<CommandOutcome<Organization>> {
    const outcome = await this.handler.handle(
      organizationStream(organizationId),
      organizationDecider,
      { type: 'SuspendOrganization', data: { organizationId, reason } },
      context,
    );
    await this.status.changed(organizationId);
    return outcome;
  }

  async reactivate(context: CommandContext, organizationId: string): Promise<CommandOutcome<Organization>> {
    const outcome = await this.handler.handle(
      organizationStream(organizationId),
      organizationDecider,
      { type: 'ReactivateOrganization', data: { organizationId } },
      context,
    );
    await this.status.changed(organizationId);
    return outcome;
  }

  /** The target plan's status is read from its own stream (the catalog's truth), then the decider judges. */
  async changePlan(context: CommandContext, organizationId: string, planId: string): Promise<CommandOutcome<Organization>> {
    const plan = await this.handler.load(planStream(planId), planDecider);
    const outcome = await this.handler.handle(
      organizationStream(organizationId),
      organizationDecider,
      { type: 'ChangeOrganizationPlan', data: { organizationId, planId, plan: plan.state.status } },
      context,
    );
    // A plan staff give without a subscription is comped: billing's restriction may lift.
    await this.status.changed(organizationId);
    return outcome;
  }

  async extendTrial(context: CommandContext, organizationId: string, trialEndsAt: string): Promise<CommandOutcome<Organization>> {
    const outcome = await this.handler.handle(
      organizationStream(organizationId),
      organizationDecider,
      { type: 'ExtendTrial', data: { organizationId, trialEndsAt, now: context.now.toISOString() } },
      context,
    );
    await this.status.changed(organizationId);
    return outcome;
  }

  startImpersonation(
    context: CommandContext,
    started: { organizationId: string; impersonationId: string; staffId: string; expiresAt: string; reason: string },
  ): Promise<CommandOutcome<Organization>> {
    return this.handler.handle(
      organizationStream(started.organizationId),
      organizationDecider,
      { type: 'StartImpersonation', data: { ...started, now: context.now.toISOString() } },
      context,
    );
  }
}
