/**
 * Demo data for embedded mode, so a first start has something to show: users with profiles, users
 * without (what `GET /users/missing` lists), one stale profile, one soft-deleted user whose
 * profile is left behind, and one profile whose user is gone entirely. Ids are derived from a
 * fixed string, so they are the same on every machine and can be quoted in docs.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from '../db/sql-client.ts';

const PEOPLE = [
  'Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth',
  'Margaret Hamilton', 'Ken Thompson', 'Frances Allen', 'Dennis Ritchie', 'Radia Perlman', 'John Backus',
  'Katherine Johnson', 'Tony Hoare', 'Shafi Goldwasser', 'Leslie Lamport', 'Sophie Wilson', 'Niklaus Wirth',
  'Adele Goldberg', 'Bjarne Stroustrup', 'Karen Sparck Jones', 'Guido van Rossum', 'Hedy Lamarr', 'Linus Torvalds',
  'Annie Easley', 'Brian Kernighan', 'Jean Bartik', 'Ward Cunningham', 'Evelyn Boyd Granville', 'Rob Pike',
  'Mary Kenneth Keller', 'James Gosling', 'Betty Holberton', 'Anders Hejlsberg', 'Lynn Conway', 'Yukihiro Matsumoto',
];

/** How the demo population is split; exported so tests and docs can speak of it. */
export const DEMO = {
  users: PEOPLE.length,
  inSync: 20,
  /** User number 21 (1-based) has a profile with an old email and name. */
  staleUser: 21,
  /** Users 22..36 have no profile. */
  missing: PEOPLE.length - 21,
} as const;

const ID_SEED = 'supabase-user-sync demo user ';

/** The deterministic id of demo user `n` (1-based), in SQL; 37 is the soft-deleted one, 38 the orphan. */
export const demoUserIdSql = (n: string) => `md5('${ID_SEED}' || ${n})::uuid`;

/** The same id computed here, for docs and tests. */
export function demoUserId(n: number): string {
  const hex = createHash('md5').update(ID_SEED + n).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export async function seedDemoData(db: Queryable): Promise<void> {
  const names = PEOPLE;
  const emails = PEOPLE.map((name) => `${name.toLowerCase().replaceAll(' ', '.')}@example.com`);
  await db.query(
    `
    WITH people AS (
      SELECT n::int AS n, name, email
      FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS p(name, email, n)
    )
    INSERT INTO auth.users (
      instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, last_sign_in_at,
      raw_app_meta_data, raw_user_meta_data, created_at, updated_at, is_sso_user, is_anonymous
    )
    SELECT
      '00000000-0000-0000-0000-000000000000', ${demoUserIdSql('n')}, 'authenticated', 'authenticated', email,
      -- a bcrypt-shaped placeholder: never a real password, but Database Webhooks would carry it.
      '$2a$10$demo.demo.demo.demo.demo.demo.demo.demo.demo.demo.demo.',
      now() - (n || ' days')::interval, now() - (n || ' hours')::interval,
      jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email'))
        || CASE WHEN n % 7 = 0 THEN jsonb_build_object('role', 'admin') ELSE '{}'::jsonb END,
      CASE WHEN n % 3 = 0
        -- OAuth providers fill "name" and "picture"; email sign-ups set "full_name" themselves.
        THEN jsonb_build_object('name', name, 'picture', 'https://avatars.example.com/' || n || '.png')
        ELSE jsonb_build_object('full_name', name, 'avatar_url', 'https://avatars.example.com/' || n || '.png')
      END,
      now() - (n || ' days')::interval, now() - (n || ' hours')::interval, false, false
    FROM people
    `,
    [names, emails],
  );

  // Profiles for users 1..20 as the default field map would write them.
  await db.query(`
    INSERT INTO public.users (id, email, full_name, avatar_url, role)
    SELECT u.id, u.email,
      COALESCE(u.raw_user_meta_data->>'full_name', u.raw_user_meta_data->>'name'),
      COALESCE(u.raw_user_meta_data->>'avatar_url', u.raw_user_meta_data->>'picture'),
      u.raw_app_meta_data->>'role'
    FROM generate_series(1, ${DEMO.inSync}) AS n
    JOIN auth.users u ON u.id = ${demoUserIdSql('n')}
  `);

  // User 21: the profile still has the email and name from before a change.
  await db.query(`
    INSERT INTO public.users (id, email, full_name)
    VALUES (${demoUserIdSql(String(DEMO.staleUser))}, 'old.address@example.com', 'Name Before Change')
  `);

  // User 37: soft-deleted by Supabase Auth (email and phone scrambled, metadata emptied), profile
  // still there.
  await db.query(`
    INSERT INTO auth.users (instance_id, id, aud, role, email, phone, raw_app_meta_data, raw_user_meta_data,
                            created_at, updated_at, deleted_at)
    VALUES ('00000000-0000-0000-0000-000000000000', ${demoUserIdSql('37')}, 'authenticated', 'authenticated',
            md5('departed@example.com 37'), md5('+15550100037 37'), '{}', '{}',
            now() - interval '90 days', now() - interval '1 day', now() - interval '1 day')
  `);
  await db.query(`
    INSERT INTO public.users (id, email, full_name)
    VALUES (${demoUserIdSql('37')}, 'departed@example.com', 'Departed User')
  `);

  // Profile 38: its user was deleted from auth.users and the Database Webhook was lost.
  await db.query(`
    INSERT INTO public.users (id, email, full_name)
    VALUES (${demoUserIdSql('38')}, 'gone@example.com', 'Gone Entirely')
  `);
}
