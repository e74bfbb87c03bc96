import type { ResourceWithOptions } from 'adminjs';
import { readModelStream } from '../../../domain/operations/operations.ts';
import { ProjectionsResource } from '../projections-resource.ts';
import { commandAction, historyAction, navigation, readOnly, type ConsoleResourceDeps } from './console-actions.ts';

/** The read models and how far each got; the rebuildable ones can be rebuilt from the whole log. */
export function projectionsResource(deps: ConsoleResourceDeps): ResourceWithOptions {
  return {
    resource: new ProjectionsResource(deps.projections),
    options: {
      navigation: navigation.operations,
      actions: {
        ...readOnly,
        rebuild: commandAction({
          permission: 'projections:rebuild',
          icon: 'RotateCw',
          guard: 'Rebuild this read model from the whole log? The current generation keeps serving until the new one has caught up.',
          isVisible: (record) => record.rebuildable === true,
          run: async (context, who, record) => {
            await deps.staffConsole.rebuild(deps.requestOf(context, who), String(record.readModel));
            return { message: `Rebuilding ${String(record.readModel)}: progress shows in the list` };
          },
        }),
        history: historyAction((name) => readModelStream(name.split('@')[0]!)),
      },
    },
  };
}
