/**
 * A Supabase-shaped database, as docs/supabase-auth-users.md describes it: the roles, `auth.users` and
 * `auth.identities` with the columns Supabase Auth's migrations leave, and a typical `public.users`
 * profile table. Embedded mode lays it out on first start; the tests build their real-PostgreSQL
 * databases from it too.
 * The service never runs this against a user's database (postgres mode leaves `auth` alone).
 */

/** Supabase's roles. Cluster-wide in PostgreSQL, so created only where missing. */
export const supabaseRolesSql = `
DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['anon', 'authenticated', 'service_role', 'authenticator', 'supabase_auth_admin'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
    END IF;
  END LOOP;
  ALTER ROLE service_role BYPASSRLS;
EXCEPTION
  -- Two databases built at once on one cluster can race to create the same role.
  WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
`;

export const authSchemaSql = `
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE IF NOT EXISTS auth.users (
  instance_id                 uuid,
  id                          uuid NOT NULL PRIMARY KEY,
  aud                         varchar(255),
  role                        varchar(255),
  email                       varchar(255),
  encrypted_password          varchar(255),
  email_confirmed_at          timestamptz,
  invited_at                  timestamptz,
  confirmation_token          varchar(255) DEFAULT '',
  confirmation_sent_at        timestamptz,
  recovery_token              varchar(255) DEFAULT '',
  recovery_sent_at            timestamptz,
  email_change_token_new      varchar(255) DEFAULT '',
  email_change                varchar(255) DEFAULT '',
  email_change_sent_at        timestamptz,
  last_sign_in_at             timestamptz,
  raw_app_meta_data           jsonb,
  raw_user_meta_data          jsonb,
  is_super_admin              boolean,
  created_at                  timestamptz,
  updated_at                  timestamptz,
  phone                       text UNIQUE DEFAULT NULL,
  phone_confirmed_at          timestamptz,
  phone_change                text DEFAULT '',
  phone_change_token          varchar(255) DEFAULT '',
  phone_change_sent_at        timestamptz,
  confirmed_at                timestamptz GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED,
  email_change_token_current  varchar(255) DEFAULT '',
  email_change_confirm_status smallint DEFAULT 0 CHECK (email_change_confirm_status >= 0 AND email_change_confirm_status <= 2),
  banned_until                timestamptz,
  reauthentication_token      varchar(255) DEFAULT '',
  reauthentication_sent_at    timestamptz,
  is_sso_user                 boolean NOT NULL DEFAULT false,
  deleted_at                  timestamptz,
  is_anonymous                boolean NOT NULL DEFAULT false
);

-- Email is unique only among non-SSO users, as in Supabase Auth.
CREATE UNIQUE INDEX IF NOT EXISTS users_email_partial_key ON auth.users (email) WHERE (is_sso_user = false);
CREATE INDEX IF NOT EXISTS users_instance_id_idx ON auth.users (instance_id);
CREATE INDEX IF NOT EXISTS users_is_anonymous_idx ON auth.users (is_anonymous);

-- A user's sign-in methods, as Supabase Auth's migrations leave the table: one row per provider
-- account (provider_id is the provider's subject, the user's own id for 'email'). An OAuth, SSO,
-- ID-token or web3 sign-up is found here by (provider, provider_id), not by the id its
-- before-user-created hook showed (docs/supabase-webhooks-and-hooks.md).
CREATE TABLE IF NOT EXISTS auth.identities (
  provider_id     text NOT NULL,
  user_id         uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  identity_data   jsonb NOT NULL,
  provider        text NOT NULL,
  last_sign_in_at timestamptz,
  created_at      timestamptz,
  updated_at      timestamptz,
  email           text GENERATED ALWAYS AS (lower(identity_data->>'email')) STORED,
  id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider)
);
CREATE INDEX IF NOT EXISTS identities_user_id_idx ON auth.identities (user_id);
CREATE INDEX IF NOT EXISTS identities_email_idx ON auth.identities (email text_pattern_ops);
`;

/**
 * The profile table most Supabase projects have. Deliberately without the usual
 * "REFERENCES auth.users ON DELETE CASCADE": without it, deleting a user leaves an orphaned
 * profile, which is what DELETE_POLICY is about and what the demo shows.
 */
export const demoProfileTableSql = `
CREATE TABLE IF NOT EXISTS public.users (
  id              uuid PRIMARY KEY,
  email           text,
  full_name       text,
  avatar_url      text,
  phone           text,
  role            text,
  organization_id uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  deleted_at      timestamptz
);
ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
`;

/**
 * A login role for a service to connect as (the tests and the bench run the service as one, as
 * production runs it as Supabase's non-superuser `postgres`). Cluster-wide, so made only where missing.
 */
export const loginRoleSql = (role: string) => `
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
    CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEROLE;
  END IF;
EXCEPTION
  -- Two databases set up at once on one cluster can race to create the role.
  WHEN duplicate_object OR unique_violation THEN NULL;
END
$$`;

/**
 * Ownership as on hosted Supabase (docs/capture.md): `supabase_auth_admin` owns the auth schema and
 * its tables; the service's role holds `authPrivileges` on them (Supabase grants `postgres` ALL,
 * so TRIGGER), may create its own schema, and owns the profile table.
 */
export const supabaseOwnershipSql = (serviceRole: string, database: string, authPrivileges = 'ALL') => `
  ALTER SCHEMA auth OWNER TO supabase_auth_admin;
  DO $$
  DECLARE t text;
  BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'auth' LOOP
      EXECUTE format('ALTER TABLE auth.%I OWNER TO supabase_auth_admin', t);
      EXECUTE format('GRANT ${authPrivileges} ON auth.%I TO ${serviceRole}', t);
    END LOOP;
  END
  $$;
  GRANT USAGE ON SCHEMA auth TO ${serviceRole};
  GRANT CREATE ON DATABASE "${database}" TO ${serviceRole};
  GRANT USAGE, CREATE ON SCHEMA public TO ${serviceRole};
  ALTER TABLE public.users OWNER TO ${serviceRole};`;
