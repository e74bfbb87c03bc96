import { EntitySchema } from '@mikro-orm/core';

/** A plan of the catalog, flat (one column per limit) so that staff can list, sort and filter by any of them. */
export interface PlanView {
  id: string;
  name: string;
  status: 'draft' | 'active' | 'retired';
  monthlyPriceCents: number;
  currency: string;
  contactsLimit: number | null;
  activeWorkflowsLimit: number | null;
  executionsPerMonthLimit: number | null;
  aiTokensPerMonthLimit: number | null;
  seatsLimit: number | null;
  createdAt: Date;
  updatedAt: Date;
  revision: number;
}

const limit = { type: 'bigint', nullable: true } as const;

export const PlanViewSchema = new EntitySchema<PlanView>({
  name: 'PlanView',
  tableName: 'plans',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'text' },
    status: { type: 'text' },
    monthlyPriceCents: { type: 'bigint' },
    currency: { type: 'text' },
    contactsLimit: limit,
    activeWorkflowsLimit: limit,
    executionsPerMonthLimit: limit,
    aiTokensPerMonthLimit: limit,
    seatsLimit: limit,
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
    revision: { type: 'integer' },
  },
});
