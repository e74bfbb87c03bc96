import Mustache from 'mustache';
import type { ContactSnapshot } from './step-type.ts';

/** {{contact.firstName}}-style placeholders, without HTML escaping (emails here are plain text). */
export function render(template: string, contact: ContactSnapshot): string {
  return Mustache.render(template, { contact }, {}, { escape: (value: string) => value });
}
