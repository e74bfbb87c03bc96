// Creates an embedded database's data directory (PGlite runs initdb in a second, temporary database of its
// own) and exits. Run as a child process by embedded-postgres.ts on first start, so that the memory initdb
// takes goes back to the system with this process instead of staying in the server's heap.
import { PGlite } from '@electric-sql/pglite';

const db = await PGlite.create(process.argv[2]);
await db.close();
