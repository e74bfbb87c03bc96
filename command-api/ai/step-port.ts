import { PlanLimitReachedError } from '../../domain/billing/quota.ts';
import { StepError, type StepPorts } from '../../domain/workflows/steps/step-type.ts';
import { AiInvalidAnswerError, pickFields, type AiFeatures } from './ai-features.ts';
import { AiDisabledError, AiRateLimitedError, AiRequestTooLargeError } from './ai-service.ts';
import { AiProviderUnavailable, AiRequestRejected } from './ports.ts';

/**
 * The workflow step ai_compose_email through the AI service: the organization's switch, the per-request size
 * and its monthly allowance apply, and the tokens are recorded as its usage (endpoint
 * `workflow/ai_compose_email`). The per-minute limit of requests does not: the step sends, so its mailbox's
 * throttles pace it (a sequence firing for 1,000 contacts is not failed by a limit meant for people and
 * clients). Only the contact fields the email prompt names are sent. What can pass (a provider down, an
 * unusable answer) is retried with the step's back-off; what cannot (AI off, allowance used up, a refused
 * request) fails the step at once with its reason.
 */
export function aiStepPort(features: AiFeatures): StepPorts['ai'] {
  return {
    async composeEmail({ organizationId, executionId, contact, instructions, idempotencyKey }) {
      const context = {
        tenantId: organizationId,
        actor: { type: 'system' as const, id: 'workflow-runner' },
        correlationId: executionId,
        causationId: idempotencyKey,
        now: new Date(),
      };
      const fields = pickFields(contact, features.emailContactFields());
      try {
        const answered = await features.generateEmail(context, organizationId, { instructions }, 'workflow/ai_compose_email', {
          contactId: contact.id,
          fields,
        });
        return {
          subject: answered.result.subject,
          text: answered.result.body,
          model: answered.served.model,
          tokens: answered.usage.totalTokens,
        };
      } catch (err) {
        throw stepErrorOf(err);
      }
    },
  };
}

function stepErrorOf(err: unknown): unknown {
  if (err instanceof AiDisabledError) return new StepError(err.message, false, 'ai_disabled');
  if (err instanceof PlanLimitReachedError) return new StepError(err.message, false, 'plan_limit_reached');
  if (err instanceof AiRequestTooLargeError) return new StepError(err.message, false, 'request_too_large');
  if (err instanceof AiRequestRejected) return new StepError(err.message, false, 'provider_rejected');
  if (err instanceof AiRateLimitedError) return new StepError(err.message, true, 'ai_rate_limited');
  if (err instanceof AiProviderUnavailable) return new StepError(err.message, true, 'ai_unavailable');
  if (err instanceof AiInvalidAnswerError) return new StepError(err.message, true, 'ai_invalid_answer');
  return err;
}
