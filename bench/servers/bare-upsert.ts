/**
 * The HTTP benchmarks' baseline: the least a server can do to sync one user. Bare Fastify (no
 * logger, auth, validation, rate limit or metrics), the same driver and pool size as the service,
 * and one statement per request: the upsert of the default field map's columns read straight from
 * auth.users. Like the service, it writes only when a column differs, so both sides ask the
 * database for the same work and the ratio measures what the service adds around it.
 *
 * By default its statement is unnamed, planned on every request, as the issue's reference
 * baseline was. With BARE_PREPARED=1 it is a named prepared statement, planned once per
 * connection like the service's sync: the stricter baseline, where the service's own
 * per-request work (auth, validation, logging, the audit CTE) shows undiluted.
 *
 * Env: DATABASE_URL, DATABASE_POOL_MAX, HOST, PORT, BARE_PREPARED.
 */
import Fastify from 'fastify';
import pg from 'pg';

const UPSERT = `
  INSERT INTO public.users AS p (id, email, full_name, avatar_url, phone, role, organization_id)
  SELECT u.id, NULLIF(u.email, ''),
         COALESCE(NULLIF(u.raw_user_meta_data->>'full_name', ''), NULLIF(u.raw_user_meta_data->>'name', '')),
         COALESCE(NULLIF(u.raw_user_meta_data->>'avatar_url', ''), NULLIF(u.raw_user_meta_data->>'picture', '')),
         NULLIF(u.phone, ''),
         COALESCE(NULLIF(u.raw_app_meta_data->>'role', ''), NULLIF(u.raw_user_meta_data->>'role', '')),
         NULLIF(u.raw_user_meta_data->>'organization_id', '')::uuid
    FROM auth.users u
   WHERE u.id = $1
  ON CONFLICT (id) DO UPDATE
     SET email = EXCLUDED.email, full_name = EXCLUDED.full_name, avatar_url = EXCLUDED.avatar_url,
         phone = EXCLUDED.phone, role = EXCLUDED.role, organization_id = EXCLUDED.organization_id, updated_at = now()
   WHERE (p.email, p.full_name, p.avatar_url, p.phone, p.role, p.organization_id)
         IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.full_name, EXCLUDED.avatar_url, EXCLUDED.phone, EXCLUDED.role, EXCLUDED.organization_id)
  RETURNING (p.xmax = 0) AS inserted`;

const PREPARED = process.env.BARE_PREPARED === '1';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_MAX) });
const app = Fastify({ logger: false });

app.post<{ Params: { userId: string } }>('/sync/:userId', async (request) => {
  const values = [request.params.userId];
  const { rows } = await pool.query<{ inserted: boolean }>(PREPARED ? { name: 'bare_upsert', text: UPSERT, values } : { text: UPSERT, values });
  const action = rows[0] === undefined ? 'unchanged' : rows[0].inserted ? 'created' : 'updated';
  return { userId: request.params.userId, action };
});

app.get('/ready', async () => {
  await pool.query('SELECT 1');
  return { ready: true };
});

process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => pool.end())
    .then(() => process.exit(0));
});

await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 0) });
