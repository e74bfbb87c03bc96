import type { ResourceWithOptions } from 'adminjs';
import { parkedEventStream } from '../../../domain/operations/operations.ts';
import { ParkedEventSchema } from '../../../projectors/runner/runner-tables.ts';
import { ReadModelResource } from '../read-model-resource.ts';
import { commandAction, historyAction, navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** Events a projection could not apply, newest first; each can be applied again (a retry, recorded). */
export function parkedEventsResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  const resource = new ReadModelResource({
    id: 'ParkedEvent',
    orm: deps.orm,
    entity: ParkedEventSchema,
    properties: [
      { path: 'id', type: 'number', isId: true },
      { path: 'projection', type: 'string' },
      { path: 'eventType', type: 'string' },
      { path: 'streamId', type: 'string' },
      { path: 'eventId', type: 'string' },
      { path: 'position', type: 'string' },
      { path: 'error', type: 'textarea' },
      { path: 'attempts', type: 'number' },
      { path: 'parkedAt', type: 'datetime' },
      { path: 'resolvedAt', type: 'datetime' },
    ],
  });
  return {
    resource,
    options: {
      navigation: navigation.operations,
      listProperties: ['id', 'projection', 'eventType', 'attempts', 'parkedAt', 'resolvedAt'],
      sort: { sortBy: 'parkedAt', direction: 'desc' },
      actions: {
        ...readOnly,
        retry: commandAction({
          permission: 'parkedEvents:retry',
          icon: 'RefreshCw',
          guard: 'Apply this event to its projection again?',
          isVisible: (record) => !record.resolvedAt,
          run: async (context, who, record) => {
            const outcome = await deps.staffConsole.retryParkedEvent(deps.requestOf(context, who), String(record.id));
            return { message: outcome.resolved ? `Applied: the parked event is resolved` : `Failed again: ${outcome.error}` };
          },
        }),
        history: historyAction(parkedEventStream),
      },
    },
  };
}
