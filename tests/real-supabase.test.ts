/**
 * Opt-in: the contract's core against a real Supabase project, through the Supabase API back end.
 * Runs only when SUPABASE_TEST_URL and SUPABASE_TEST_SECRET_KEY are set (a throwaway project:
 * it creates and deletes users, and writes their profiles in PROFILE_TABLE, default public.users).
 * Everything else in the suite runs without a network, against the local stand-in.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApp, type TestApp } from './helpers/app.ts';

const url = process.env.SUPABASE_TEST_URL;
const key = process.env.SUPABASE_TEST_SECRET_KEY;
const table = process.env.SUPABASE_TEST_PROFILE_TABLE ?? 'public.users';
const enabled = Boolean(url && key);

if (!enabled) {
  console.info('real Supabase suite skipped: set SUPABASE_TEST_URL and SUPABASE_TEST_SECRET_KEY to run it against a project');
}

describe.runIf(enabled)('a real Supabase project (SUPABASE_TEST_URL)', () => {
  let admin: SupabaseClient;
  let t: TestApp;
  const created: string[] = [];
  const [schema, relation] = table.includes('.') ? (table.split('.') as [string, string]) : ['public', table];
  const profileOf = async (id: string) => {
    const { data, error } = await admin.schema(schema).from(relation).select('*').eq('id', id).maybeSingle();
    if (error) throw new Error(error.message);
    return data as Record<string, unknown> | null;
  };

  beforeAll(async () => {
    admin = createClient(url!, key!, { auth: { persistSession: false, autoRefreshToken: false } });
    t = await startApp(null, { SUPABASE_URL: url!, SUPABASE_SECRET_KEY: key!, PROFILE_TABLE: table });
  });
  afterAll(async () => {
    await t?.close();
    for (const id of created) await admin?.auth.admin.deleteUser(id).catch(() => undefined);
  });

  it('creates, updates and deletes a profile as the user changes', async () => {
    const email = `usersync-${Date.now()}@example.com`;
    const { data, error } = await admin.auth.admin.createUser({ email, email_confirm: true, user_metadata: { full_name: 'Real Test' } });
    expect(error).toBeNull();
    const id = data.user!.id;
    created.push(id);

    expect((await request(t.url).post(`/sync/${id}`).set(auth).expect(200)).body.action).toBe('created');
    expect(await profileOf(id)).toMatchObject({ id, email });
    expect((await request(t.url).post(`/sync/${id}`).set(auth).expect(200)).body.action).toBe('unchanged');

    await admin.auth.admin.updateUserById(id, { user_metadata: { full_name: 'Renamed' } });
    expect((await request(t.url).get(`/users/${id}`).set(auth).expect(200)).body.state).toBe('stale');
    expect((await request(t.url).post(`/sync/${id}`).set(auth).expect(200)).body.action).toBe('updated');

    await admin.auth.admin.deleteUser(id);
    expect((await request(t.url).post(`/sync/${id}`).set(auth).expect(200)).body.action).toBe('deleted');
    expect(await profileOf(id)).toBeNull();
  });
});
