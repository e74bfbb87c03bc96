import type { DomainEvent } from '../events.ts';
import { requireOrganization, type ExistingOrganization, type Organization } from './organization-state.ts';

/**
 * The organization turned the AI service on or off (issue 22). Off: its /ai/* requests are refused, workflow
 * AI steps compose nothing through a provider, and its records are no longer sent to a provider for
 * embeddings. An organization with no such event has it on.
 */
export type AiSettingsChanged = DomainEvent<'AiSettingsChanged', { organizationId: string; enabled: boolean }>;

export type ChangeAiSettings = { type: 'ChangeAiSettings'; data: { organizationId: string; enabled: boolean } };

/** Records a change only: asking for what is already so records nothing (as a rename to the same name). */
export function changeAiSettings(command: ChangeAiSettings, state: Organization): AiSettingsChanged[] {
  const organization = requireOrganization(state, command.data.organizationId);
  if (organization.aiEnabled === command.data.enabled) return [];
  return [{ type: 'AiSettingsChanged', version: 1, data: { organizationId: organization.id, enabled: command.data.enabled } }];
}

export function evolveAiSettings(state: ExistingOrganization, event: AiSettingsChanged): ExistingOrganization {
  return { ...state, aiEnabled: event.data.enabled };
}
