/**
 * The one-statement sync maps users in SQL (src/db/mapped-values.ts); everything else maps them
 * in JavaScript with `mapUser`. Here both run on the same users, tricky metadata included, and
 * must write the same row, or be refused alike; and the row must hold what `mapUser` chose,
 * written as JavaScript writes it. Also: the webhook statement that records a delivery with its
 * sync records nothing when the sync fails or the user is not live.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.ts';
import { readProfileTable } from '../src/db/profile-table.ts';
import { SqlProfileStore } from '../src/db/sql-profile-store.ts';
import { SqlServiceState } from '../src/db/sql-service-state.ts';
import { profileRules } from '../src/sync/profile-rules.ts';
import { ProblemError } from '../src/errors/problems.ts';
import { mapUser, resolveFieldMap, type FieldMapping } from '../src/sync/field-map.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { count, insertAuthUser } from './helpers/users.ts';

const PROFILE_SQL = `
  CREATE TABLE public.mapped (
    id           uuid PRIMARY KEY,
    email        text,
    full_name    text,
    nick         text,
    plan         text,
    prefs        jsonb,
    tags         jsonb,
    score        numeric,
    everything   text,
    auth_id      uuid,
    signed_up_at timestamptz,
    seen         text,
    is_guest     boolean,
    guest        text,
    updated_at   timestamptz NOT NULL DEFAULT now()
  );`;

const FIELD_MAP = {
  email: 'email',
  full_name: ['user_metadata.full_name', 'user_metadata.name', 'phone'],
  // Through nested objects, an array's "0" (never an index), then a top-level field.
  nick: ['user_metadata.profile.nick', 'user_metadata.tags.0', 'user_metadata.0', 'user_metadata.nick', 'email'],
  plan: ['app_metadata.plan.tier', 'app_metadata.plan', 'user_metadata.plan'],
  prefs: 'user_metadata.prefs',
  tags: ['user_metadata.tags', 'app_metadata.providers'],
  score: 'user_metadata.score',
  everything: 'app_metadata',
  auth_id: 'id',
  signed_up_at: 'created_at',
  seen: ['last_sign_in_at', 'banned_until', 'updated_at'],
  is_guest: 'is_anonymous',
  guest: 'is_anonymous',
};

const context = { actor: 'test', source: 'api' as const };

let db: TestDatabase;
let backend: SqlProfileStore;
let mapping: FieldMapping;

beforeAll(async () => {
  db = await createTestDatabase({ profileSql: PROFILE_SQL });
  await migrate(db.sql);
  const table = await readProfileTable(db.sql, 'public.mapped');
  mapping = resolveFieldMap(FIELD_MAP, table);
  // Anonymous users get profiles here: the generated users include them, and what is compared is
  // the mapping of every user (tests/anonymous-users.test.ts holds the policy itself).
  backend = SqlProfileStore.create(db.sql, table, mapping, profileRules(table, mapping, 'delete', true));
});

afterAll(async () => {
  await db?.close();
});

interface UserState {
  email: string | null;
  phone: string | null;
  userMetadata: unknown;
  appMetadata: unknown;
  createdAt: string;
  lastSignInAt: string | null;
  bannedUntil: string | null;
  isAnonymous: boolean;
}

/** Writes the user's row; metadata as JSON text, so it may be any JSON (an array, a number...). */
async function setUser(id: string, user: UserState): Promise<void> {
  await db.sql.query(
    `UPDATE auth.users SET email = $2, phone = $3, raw_user_meta_data = $4::jsonb, raw_app_meta_data = $5::jsonb,
            created_at = $6, last_sign_in_at = $7, banned_until = $8, is_anonymous = $9, updated_at = now()
      WHERE id = $1`,
    [
      id,
      user.email,
      user.phone,
      user.userMetadata === undefined ? null : JSON.stringify(user.userMetadata),
      user.appMetadata === undefined ? null : JSON.stringify(user.appMetadata),
      user.createdAt,
      user.lastSignInAt,
      user.bannedUntil,
      user.isAnonymous,
    ],
  );
}

type Written = { ok: true; row: Record<string, unknown> } | { ok: false; code: string };

const refused = (error: unknown): Written => {
  if (error instanceof ProblemError) return { ok: false, code: error.code };
  throw error;
};

/** The row the JavaScript path would write (mapUser, then the database's casts), writing nothing. */
async function viaMapUser(id: string): Promise<{ values: Record<string, unknown>; written: Written }> {
  const values = mapUser((await backend.getAuthUser(id))!, mapping);
  const written = await backend.previewProfiles([{ userId: id, values }]).then(([preview]) => ({ ok: true as const, row: preview!.expected }), refused);
  return { values, written };
}

/** What the one-statement sync writes. */
async function viaSql(id: string): Promise<Written> {
  return backend.syncUsers([id], context).then(([outcome]) => ({ ok: true as const, row: outcome!.after! }), refused);
}

const TEXT_COLUMNS = new Set(['email', 'full_name', 'nick', 'plan', 'everything', 'seen', 'guest']);
const JSON_COLUMNS = new Set(['prefs', 'tags']);

/** The row holds what mapUser chose, written as JavaScript writes it. */
function expectHolds(row: Record<string, unknown>, values: Record<string, unknown>): void {
  for (const [column, chosen] of Object.entries(values)) {
    const actual = row[column];
    // A number beyond a double's range is Infinity to JavaScript, which JSON carries as null.
    const value = typeof chosen === 'number' && !Number.isFinite(chosen) ? null : chosen;
    if (value === null) expect(actual, column).toBeNull();
    else if (JSON_COLUMNS.has(column)) expect(actual, column).toEqual(JSON.parse(JSON.stringify(value)));
    else if (column === 'score') expect(Number(actual), column).toBe(Number(value));
    else if (!TEXT_COLUMNS.has(column)) expect(actual, column).toEqual(value);
    else if (typeof value === 'object') {
      // Its JSON text (PostgreSQL's spacing and key order): the same JSON.
      expect(JSON.parse(actual as string), column).toEqual(JSON.parse(JSON.stringify(value)));
    } else expect(actual, column).toBe(String(value as string | number | boolean));
  }
}

async function expectSameRow(id: string): Promise<void> {
  const { values, written } = await viaMapUser(id);
  const sql = await viaSql(id);
  if (!written.ok || !sql.ok) {
    expect(sql).toEqual(written);
    return;
  }
  for (const { column } of mapping.columns) expect(sql.row[column], column).toEqual(written.row[column]);
  expectHolds(sql.row, values);
}

const KEYS = ['full_name', 'name', 'nick', 'profile', 'plan', 'tier', 'prefs', 'tags', 'score', '0', 'providers'] as const;

const leaf = fc.oneof(
  fc.constant(null),
  fc.constant(''),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('Ünïcödé ✓', 'O\'Brien "quoted"', '1.50', '42', 'true', 'null', '{"a": 1}'),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(1e21, 1e-7, 123456789.125, 1e15, 5e-324, -1.5e300, 0.1),
  fc.boolean(),
);

const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const metadata = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(fc.constantFrom(...KEYS), json, { maxKeys: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, [], ['x'], 'text', 7) },
);

const timestamp = fc.date({ min: new Date('1990-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((date) => date.toISOString());

const userState: fc.Arbitrary<UserState> = fc.record({
  email: fc.constantFrom(null, '', 'ada@example.com', 'Mixed.Case@Example.com'),
  phone: fc.constantFrom(null, '', '+15550100'),
  userMetadata: metadata,
  appMetadata: metadata,
  createdAt: timestamp,
  lastSignInAt: fc.option(timestamp),
  bannedUntil: fc.option(timestamp),
  isAnonymous: fc.boolean(),
});

describe('the one-statement sync maps users as mapUser does', () => {
  it('for generated users and metadata (fallbacks, "", null, arrays in the path, numbers, objects)', async () => {
    const id = await insertAuthUser(db.sql);
    await fc.assert(
      fc.asyncProperty(userState, async (user) => {
        await setUser(id, user);
        await expectSameRow(id);
      }),
      { numRuns: 300 },
    );
  });

  it('for numbers JavaScript reads differently from how PostgreSQL stores them', async () => {
    // Written by SQL, as Supabase Auth (which re-encodes JSON from Go float64s) never would. Each
    // goes where mapUser picks it as a value; inside an object bound for a text column, digits
    // JavaScript would shorten ("1.0") stay as PostgreSQL keeps them, so none are put there.
    const id = await insertAuthUser(db.sql);
    const numbers = ['1.0', '1.50', '-0', '1e21', '1E+2', '0.000001', '1e-7', '123456789012345678901234567890', '1e400', '-1e400', '1e-400'];
    for (const number of [...numbers, '0.1000000000000000055511151231257827', '-2.5e-310']) {
      const nested = number.includes('e400') ? '' : number;
      await db.sql.query('UPDATE auth.users SET raw_user_meta_data = $2::jsonb, raw_app_meta_data = $3::jsonb WHERE id = $1', [
        id,
        `{"full_name": ${number}, "tags": [${nested}], "score": ${number}, "plan": ${number}}`,
        '{}',
      ]);
      await expectSameRow(id);
    }
  });

  it('for users whose metadata is not an object at all', async () => {
    const id = await insertAuthUser(db.sql);
    for (const raw of [null, '[]', '[{"full_name": "in an array"}]', '"text"', '3', 'null']) {
      await db.sql.query('UPDATE auth.users SET raw_user_meta_data = $2::jsonb, raw_app_meta_data = $2::jsonb WHERE id = $1', [id, raw]);
      await expectSameRow(id);
    }
  });

  it('leaves absent and deleted users out, writing nothing for them', async () => {
    const deleted = await insertAuthUser(db.sql, { deleted_at: new Date().toISOString() });
    const live = await insertAuthUser(db.sql, { user_metadata: { name: 'Live' } });
    expect(await backend.syncUsers([deleted], context)).toEqual([null]);
    expect(await backend.syncUsers(['00000000-0000-4000-8000-000000000000'], context)).toEqual([null]);
    expect(await backend.syncUsers([live], context)).toMatchObject([{ userId: live, action: 'created' }]);
    expect(await count(db.sql, 'SELECT 1 FROM public.mapped WHERE id = $1', [deleted])).toBe(0);
  });

  it('syncs a batch in one write: one answer per id, in order, repeats answered alike', async () => {
    const deleted = await insertAuthUser(db.sql, { deleted_at: new Date().toISOString() });
    const [a, b] = [await insertAuthUser(db.sql, { user_metadata: { name: 'A' } }), await insertAuthUser(db.sql, { user_metadata: { name: 'B' } })];
    await backend.syncUsers([b], context);
    await db.sql.query(`UPDATE auth.users SET raw_user_meta_data = '{"name": "B2"}' WHERE id = $1`, [b]);
    const outcomes = await backend.syncUsers([a, deleted, b.toUpperCase(), a], context);
    expect(outcomes.map((outcome) => outcome?.action ?? null)).toEqual(['created', null, 'updated', 'created']);
    expect(outcomes[2]).toMatchObject({ changedFields: ['full_name'], after: { full_name: 'B2' } });
    // One row and one audit entry per user, however often it was named.
    expect(await count(db.sql, `SELECT 1 FROM user_sync.audit_log WHERE user_id = $1`, [a])).toBe(1);
    expect(await count(db.sql, `SELECT 1 FROM user_sync.audit_log WHERE user_id = $1`, [b])).toBe(2);
  });
});

describe('a webhook delivery recorded in the statement of its sync', () => {
  const deliveries = (id: string) => count(db.sql, 'SELECT 1 FROM user_sync.webhook_deliveries WHERE id = $1', [id]);
  const webhook = { actor: 'webhook', source: 'webhook' as const };
  /** The delivery's guarded sync of its user, as the webhook path runs it; its one outcome. */
  const syncOnce = async (delivery: { id: string; kind: string; userId: string }) => {
    const done = await new SqlServiceState(db.sql, backend).once(delivery, (profiles) => profiles.syncUsers([delivery.userId], webhook));
    return done === 'duplicate' ? done : done[0];
  };

  it('is recorded with the sync; again, it is a duplicate and writes nothing', async () => {
    const userId = await insertAuthUser(db.sql, { user_metadata: { name: 'First' } });
    const first = await syncOnce({ id: 'd-1', kind: 'database', userId });
    expect(first).toMatchObject({ action: 'created', after: { full_name: 'First' } });
    await db.sql.query(`UPDATE auth.users SET raw_user_meta_data = '{"name": "Second"}' WHERE id = $1`, [userId]);
    expect(await syncOnce({ id: 'd-1', kind: 'database', userId })).toBe('duplicate');
    expect((await backend.getProfile(userId))!.full_name).toBe('First');
    expect(await deliveries('d-1')).toBe(1);
  });

  it('is not recorded when the table refuses the row, so a resend after the fix applies it', async () => {
    const userId = await insertAuthUser(db.sql, { user_metadata: { score: 'not a number' } });
    await expect(syncOnce({ id: 'd-2', kind: 'database', userId })).rejects.toMatchObject({
      code: 'profile_rejected',
    });
    expect(await deliveries('d-2')).toBe(0);
    await db.sql.query(`UPDATE auth.users SET raw_user_meta_data = '{"score": 7}' WHERE id = $1`, [userId]);
    expect(await syncOnce({ id: 'd-2', kind: 'database', userId })).toMatchObject({ action: 'created' });
    expect(await deliveries('d-2')).toBe(1);
  });

  it('is not recorded by the sync of an absent or deleted user (the delete policy\'s write records it)', async () => {
    const deleted = await insertAuthUser(db.sql, { deleted_at: new Date().toISOString() });
    for (const [id, userId] of [
      ['d-3', deleted],
      ['d-4', '00000000-0000-4000-8000-000000000001'],
    ] as const) {
      expect(await syncOnce({ id, kind: 'database', userId })).toBeNull();
      expect(await deliveries(id)).toBe(0);
    }
  });
});
