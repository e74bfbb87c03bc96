import { benchProjectionCatchUp } from './projection.ts';

/**
 * The catch-up bench in a process of its own, started by bench/main.ts with the node options the projectors
 * are deployed with (`start:prod:projectors`, as the projector process runs them): its figures are then
 * those of that process, young generation included. Arguments: database URL, contacts, batch size,
 * catch-up batch size. Prints its figures as the bench does.
 */
const [url, contacts, batchSize, catchUpBatchSize] = process.argv.slice(2);
await benchProjectionCatchUp(url!, Number(contacts), Number(batchSize), Number(catchUpBatchSize));
