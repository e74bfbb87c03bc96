import type { ResourceWithOptions } from 'adminjs';
import { HistoryResource } from '../history-resource.ts';
import { navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** A record's history (its stream's events), opened from the History action of every other resource. */
export function historyResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  return {
    resource: new HistoryResource(deps.streams),
    options: {
      navigation: navigation.operations,
      listProperties: ['occurredAt', 'type', 'actor', 'revision', 'data'],
      showProperties: [
        'streamId',
        'revision',
        'type',
        'occurredAt',
        'actor',
        'data',
        'version',
        'position',
        'correlationId',
        'causationId',
        'eventId',
      ],
      filterProperties: ['streamId', 'type'],
      properties: { data: { type: 'textarea' } },
      actions: readOnly,
    },
  };
}
