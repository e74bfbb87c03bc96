import { aiComposeEmail } from './ai-compose-email.ts';
import { condition } from './condition.ts';
import { addTag, removeTag, updateContact } from './contact-changes.ts';
import { crmAction } from './crm-action.ts';
import { httpRequest } from './http-request.ts';
import { sendEmail } from './send-email.ts';
import type { StepType } from './step-type.ts';
import { wait } from './wait.ts';

/** Every step type, by name. A new step type is a module in this folder and a line here. */
export const stepTypes: ReadonlyMap<string, StepType> = new Map(
  [sendEmail, wait, condition, updateContact, addTag, removeTag, httpRequest, aiComposeEmail, crmAction].map((step) => [step.type, step as StepType]),
);
