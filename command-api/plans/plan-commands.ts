import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable } from 'inversify';
import { randomUUID } from 'node:crypto';
import type { CommandContext } from '../../domain/events.ts';
import { planDecider, planStream, type DraftPlan, type Plan, type RevisePlan } from '../../domain/plans/plan.ts';
import type { CommandHandler, CommandOutcome } from '../command-handling.ts';

/** The plan catalog's commands (staff only: the staff console is the one caller). */
@injectable()
export class PlanCommands {
  constructor(@inject(TOKENS.CommandHandler) private readonly handler: CommandHandler) {}

  async draft(context: CommandContext, terms: Omit<DraftPlan['data'], 'planId'>): Promise<CommandOutcome<Plan> & { planId: string }> {
    const planId = randomUUID();
    const outcome = await this.handler.handle(planStream(planId), planDecider, { type: 'DraftPlan', data: { planId, ...terms } }, context, {
      newStream: true,
    });
    return { ...outcome, planId };
  }

  revise(context: CommandContext, changes: RevisePlan['data'], expectedRevision?: number): Promise<CommandOutcome<Plan>> {
    return this.handler.handle(
      planStream(changes.planId),
      planDecider,
      { type: 'RevisePlan', data: changes },
      context,
      expectedRevision === undefined ? {} : { expectedRevision },
    );
  }

  activate(context: CommandContext, planId: string): Promise<CommandOutcome<Plan>> {
    return this.handler.handle(planStream(planId), planDecider, { type: 'ActivatePlan', data: { planId } }, context);
  }

  retire(context: CommandContext, planId: string): Promise<CommandOutcome<Plan>> {
    return this.handler.handle(planStream(planId), planDecider, { type: 'RetirePlan', data: { planId } }, context);
  }

  async statusOf(planId: string): Promise<Plan['status']> {
    const { state } = await this.handler.load(planStream(planId), planDecider);
    return state.status;
  }
}
