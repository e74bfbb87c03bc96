import { EntitySchema } from '@mikro-orm/core';

/** Where each projection has got to in the global log; updated in the same transaction as its read model. */
export interface ProjectionCheckpoint {
  name: string;
  position: string | null;
  updatedAt: Date;
}

export const ProjectionCheckpointSchema = new EntitySchema<ProjectionCheckpoint>({
  name: 'ProjectionCheckpoint',
  tableName: 'projection_checkpoints',
  properties: {
    name: { type: 'text', primary: true },
    position: { type: 'text', nullable: true },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

/** An event a projection could not apply; the projection moved on, the event waits here to be retried. */
export interface ParkedEvent {
  id: number;
  projection: string;
  position: string;
  eventId: string;
  streamId: string;
  eventType: string;
  error: string;
  attempts: number;
  parkedAt: Date;
  resolvedAt: Date | null;
}

export const ParkedEventSchema = new EntitySchema<ParkedEvent>({
  name: 'ParkedEvent',
  tableName: 'parked_events',
  properties: {
    id: { type: 'bigint', primary: true, autoincrement: true },
    projection: { type: 'text' },
    position: { type: 'text' },
    eventId: { type: 'uuid' },
    streamId: { type: 'text' },
    eventType: { type: 'text' },
    error: { type: 'text' },
    attempts: { type: 'integer' },
    parkedAt: { type: 'datetime', columnType: 'timestamptz' },
    resolvedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
