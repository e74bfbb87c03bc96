import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Node 20's AsyncLocalStorage turns promise hooks on for the whole process the first time an instance runs,
 * and leaves them on until that instance is disabled: from then on every promise the process makes pays an
 * init hook and the store's propagation. MikroORM runs one around each unit-of-work flush (its guard against
 * a commit inside a flush), so a process that flushes once, as the projectors do for their ORM read models,
 * paid that on every promise for the rest of its life: 8–11 % of the workflow runner's CPU per execution.
 *
 * Installed in a process, an instance disables itself when its last run has ended: the callback returned
 * (and, when it returned a promise, that promise settled). A later run enables it again. Runs in flight,
 * nested or concurrent, keep their stores: the count of runs in flight is per instance. What a run starts
 * and does not wait for (a timer set in the callback, a promise not returned) no longer sees the store once
 * the run has ended; the stores used in our processes (the ORM's flush guard and transactions, the staff
 * console's request) wait for their work. And a run's promise now has a handler (ours, to see it settle): a
 * caller that neither awaits nor handles a failed run no longer gets an unhandled rejection for it.
 *
 * Answers a function that puts the original back (for tests). Installing twice is a no-op.
 */
export function releaseAsyncContextWhenIdle(): () => void {
  const prototype = AsyncLocalStorage.prototype as AsyncLocalStorage<unknown> & { [installed]?: true };
  if (prototype[installed]) return () => undefined;
  const original = prototype.run;
  const inFlight = new WeakMap<AsyncLocalStorage<unknown>, number>();
  const ended = (storage: AsyncLocalStorage<unknown>) => {
    const left = (inFlight.get(storage) ?? 1) - 1;
    inFlight.set(storage, left);
    if (left === 0) storage.disable();
  };
  prototype.run = function run<R>(this: AsyncLocalStorage<unknown>, store: unknown, callback: (...args: unknown[]) => R, ...args: unknown[]): R {
    inFlight.set(this, (inFlight.get(this) ?? 0) + 1);
    let result: R;
    try {
      result = original.call(this, store, callback, ...args) as R;
    } catch (err) {
      ended(this);
      throw err;
    }
    if (isThenable(result)) {
      result.then(
        () => ended(this),
        () => ended(this),
      );
    } else {
      ended(this);
    }
    return result;
  } as typeof original;
  prototype[installed] = true;
  return () => {
    prototype.run = original;
    delete prototype[installed];
  };
}

const installed = Symbol('nexusflow.releaseAsyncContextWhenIdle');

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
