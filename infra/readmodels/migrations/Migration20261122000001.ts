import { Migration } from '@mikro-orm/migrations';

/** Read models of the core: contacts, organizations, users; projection checkpoints and parked events. */
export class Migration20261122000001 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE contacts (
        id             uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        email          text NOT NULL,
        first_name     text,
        last_name      text,
        phone          text,
        company        text,
        title          text,
        timezone       text,
        custom_fields  jsonb NOT NULL DEFAULT '{}',
        tags           text[] NOT NULL DEFAULT '{}',
        sort_name      text NOT NULL,
        created_at     timestamptz NOT NULL,
        updated_at     timestamptz NOT NULL,
        revision       integer NOT NULL
      );
      CREATE INDEX contacts_org_updated ON contacts (organization_id, updated_at, id);
      CREATE INDEX contacts_org_created ON contacts (organization_id, created_at, id);
      CREATE INDEX contacts_org_email ON contacts (organization_id, email, id);
      CREATE INDEX contacts_org_sort_name ON contacts (organization_id, sort_name, id);
      CREATE INDEX contacts_tags ON contacts USING gin (tags);

      CREATE TABLE organizations (
        id             uuid PRIMARY KEY,
        name           text NOT NULL,
        owner_user_id  uuid NOT NULL,
        timezone       text NOT NULL,
        contact_count  integer NOT NULL DEFAULT 0,
        user_count     integer NOT NULL DEFAULT 0,
        created_at     timestamptz NOT NULL,
        updated_at     timestamptz NOT NULL,
        revision       integer NOT NULL
      );

      CREATE TABLE users (
        id              uuid PRIMARY KEY,
        organization_id uuid NOT NULL,
        name            text NOT NULL,
        email           text NOT NULL,
        role            text NOT NULL,
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL,
        revision        integer NOT NULL
      );
      CREATE INDEX users_org ON users (organization_id, created_at, id);
      CREATE INDEX users_email ON users (email);

      CREATE TABLE projection_checkpoints (
        name        text PRIMARY KEY,
        position    text,
        updated_at  timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE parked_events (
        id          bigserial PRIMARY KEY,
        projection  text NOT NULL,
        position    text NOT NULL,
        event_id    uuid NOT NULL,
        stream_id   text NOT NULL,
        event_type  text NOT NULL,
        error       text NOT NULL,
        attempts    integer NOT NULL,
        parked_at   timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz
      );
      CREATE INDEX parked_events_open ON parked_events (projection, id) WHERE resolved_at IS NULL;
    `);
  }
}
