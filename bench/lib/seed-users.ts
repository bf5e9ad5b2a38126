/**
 * Users for the HTTP benchmarks: `count` auth users with the metadata the default field map reads,
 * each with a profile that already matches, as in a running project where a sync on sign-in
 * mostly confirms what is there. Set-based: two statements whatever the count.
 */
import pg from 'pg';

export async function seedUsers(url: string, count: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO auth.users (id, aud, role, email, email_confirmed_at, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
       SELECT gen_random_uuid(), 'authenticated', 'authenticated', 'user' || i || '@bench.example', now(),
              jsonb_build_object('full_name', 'Bench User ' || i,
                                 'avatar_url', 'https://img.example/' || i || '.png',
                                 'organization_id', md5((i % 100)::text)::uuid),
              jsonb_build_object('provider', 'email', 'role', CASE WHEN i % 10 = 0 THEN 'admin' ELSE 'member' END),
              now(), now()
         FROM generate_series(1, $1::int) AS i`,
      [count],
    );
    // The default field map's columns, read as the service maps them.
    await client.query(
      `INSERT INTO public.users (id, email, full_name, avatar_url, phone, role, organization_id)
       SELECT id, email, raw_user_meta_data->>'full_name', raw_user_meta_data->>'avatar_url', phone,
              raw_app_meta_data->>'role', (raw_user_meta_data->>'organization_id')::uuid
         FROM auth.users`,
    );
    await client.query('ANALYZE auth.users; ANALYZE public.users');
    const { rows } = await client.query<{ id: string }>('SELECT id::text AS id FROM auth.users');
    return rows.map((row) => row.id);
  } finally {
    await client.end();
  }
}
