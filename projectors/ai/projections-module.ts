import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { contactEmbeddingsProjection } from './embeddings-projection.ts';

/**
 * The embedding texts of contacts and sent emails (the read model the embedder works from). A module of its
 * own: the command line lists the projections, and needs none of the AI service's code for it.
 */
export const aiProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => contactEmbeddingsProjection);
});
