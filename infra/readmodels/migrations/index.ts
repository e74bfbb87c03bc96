import { Migration20261122000001 } from './Migration20261122000001.ts';
import { Migration20261201000001 } from './Migration20261201000001.ts';
import { Migration20261201000002 } from './Migration20261201000002.ts';
import { Migration20261201000003 } from './Migration20261201000003.ts';
import { Migration20261202000001 } from './Migration20261202000001.ts';
import { Migration20261202000002 } from './Migration20261202000002.ts';
import { Migration20261202000003 } from './Migration20261202000003.ts';
import { Migration20261202000004 } from './Migration20261202000004.ts';
import { Migration20261203000001 } from './Migration20261203000001.ts';
import { Migration20261204000020 } from './Migration20261204000020.ts';
import { Migration20261204000030 } from './Migration20261204000030.ts';
import { Migration20261205000010 } from './Migration20261205000010.ts';
import { Migration20261205000030 } from './Migration20261205000030.ts';
import { Migration20261206000010 } from './Migration20261206000010.ts';
import { Migration20261206000020 } from './Migration20261206000020.ts';
import { Migration20261206000030 } from './Migration20261206000030.ts';
import { Migration20261206000040 } from './Migration20261206000040.ts';
import { Migration20261207000010 } from './Migration20261207000010.ts';
import { Migration20261208000010 } from './Migration20261208000010.ts';
import { Migration20261209000010 } from './Migration20261209000010.ts';
import { Migration20261210000010 } from './Migration20261210000010.ts';

/** Listed explicitly (no file globbing) so migrations run the same under tsx, in tests and in containers. */
export const readModelMigrations = [
  { name: 'Migration20261122000001', class: Migration20261122000001 },
  { name: 'Migration20261201000001', class: Migration20261201000001 },
  { name: 'Migration20261201000002', class: Migration20261201000002 },
  { name: 'Migration20261201000003', class: Migration20261201000003 },
  { name: 'Migration20261202000001', class: Migration20261202000001 },
  { name: 'Migration20261202000002', class: Migration20261202000002 },
  { name: 'Migration20261202000003', class: Migration20261202000003 },
  { name: 'Migration20261202000004', class: Migration20261202000004 },
  { name: 'Migration20261203000001', class: Migration20261203000001 },
  { name: 'Migration20261204000020', class: Migration20261204000020 },
  { name: 'Migration20261204000030', class: Migration20261204000030 },
  { name: 'Migration20261205000010', class: Migration20261205000010 },
  { name: 'Migration20261205000030', class: Migration20261205000030 },
  { name: 'Migration20261206000010', class: Migration20261206000010 },
  { name: 'Migration20261206000020', class: Migration20261206000020 },
  { name: 'Migration20261206000030', class: Migration20261206000030 },
  { name: 'Migration20261206000040', class: Migration20261206000040 },
  { name: 'Migration20261207000010', class: Migration20261207000010 },
  { name: 'Migration20261208000010', class: Migration20261208000010 },
  { name: 'Migration20261209000010', class: Migration20261209000010 },
  { name: 'Migration20261210000010', class: Migration20261210000010 },
];
