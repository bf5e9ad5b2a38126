/**
 * Sign-ups written as Supabase Auth writes them (tests/helpers/auth-writes.ts `writeSignUp`, and
 * docs/supabase-auth-users.md): one transaction of an INSERT with `role = ''` and empty
 * app_metadata, then UPDATEs of the same row (the role, app_metadata, the confirmation fields),
 * as `supabase_auth_admin` with search_path `auth` and unqualified names. Each statement is a
 * named prepared statement, planned once per connection, as GoTrue's driver does.
 *
 * With the default field map none of the UPDATEs touches a watched column, so a sign-up queues one
 * change (its INSERT), and the synchronous trigger (its AFTER INSERT) writes one profile.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const METADATA = JSON.stringify({ full_name: 'Bench Sign-up', avatar_url: 'https://img.example/sign-up.png' });
const APP_METADATA = JSON.stringify({ provider: 'email', providers: ['email'] });

const STATEMENTS = {
  insert: {
    name: 'bench_sign_up_insert',
    text: `INSERT INTO users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                              is_super_admin, created_at, updated_at, is_sso_user, is_anonymous)
           VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', '', $2, '$2a$10$abcdefghijklmnopqrstuv',
                   '{}', $3, false, now(), now(), false, false)`,
  },
  role: { name: 'bench_sign_up_role', text: `UPDATE users SET role = 'authenticated', updated_at = now() WHERE id = $1` },
  app: { name: 'bench_sign_up_app', text: `UPDATE users SET raw_app_meta_data = $2, updated_at = now() WHERE id = $1` },
  confirm: {
    name: 'bench_sign_up_confirm',
    text: `UPDATE users SET confirmation_token = md5(random()::text), confirmation_sent_at = now(), updated_at = now() WHERE id = $1`,
  },
};

/** Sign-ups' e-mail addresses start so, for clean-up: seeded users' do not. */
export const SIGN_UP_EMAIL_PREFIX = 'signup-';

/** Connections as Supabase Auth's: role supabase_auth_admin, search_path auth, for the session. */
export async function openAuthConnections(url: string, count: number): Promise<pg.Client[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const client = new pg.Client({ connectionString: url, application_name: 'bench-supabase-auth' });
      await client.connect();
      await client.query('SET ROLE supabase_auth_admin; SET search_path = auth');
      return client;
    }),
  );
}

export const closeAll = (clients: readonly pg.Client[]) => Promise.all(clients.map((client) => client.end()));

/** One sign-up, committed; resolves to the moment (performance.now()) its COMMIT was acknowledged. */
export async function writeSignUp(client: pg.Client, id: string): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query({ ...STATEMENTS.insert, values: [id, `${SIGN_UP_EMAIL_PREFIX}${id}@bench.example`, METADATA] });
    await client.query({ ...STATEMENTS.role, values: [id] });
    await client.query({ ...STATEMENTS.app, values: [id, APP_METADATA] });
    await client.query({ ...STATEMENTS.confirm, values: [id] });
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return performance.now();
}

export type OnCommit = (id: string, committedAt: number) => void;

/**
 * `count` sign-ups as fast as the connections take them, each connection one after another.
 * Resolves to the milliseconds from the first BEGIN to the last COMMIT.
 */
export async function writeSignUpsFlatOut(clients: readonly pg.Client[], count: number, onCommit?: OnCommit): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      while (next < count) {
        next += 1;
        const id = randomUUID();
        const committedAt = await writeSignUp(client, id);
        onCommit?.(id, committedAt);
      }
    }),
  );
  return performance.now() - started;
}

/**
 * Sign-ups at a steady `perSecond` for `seconds`: the i-th is due at start + i / perSecond and
 * goes out on the first free connection (one waiting for a connection goes when one frees). Resolves
 * to the rate achieved and how late the latest sign-up started against its due time.
 */
export async function writeSignUpsPaced(
  clients: readonly pg.Client[],
  perSecond: number,
  seconds: number,
  onCommit: OnCommit,
): Promise<{ count: number; achievedPerSecond: number; maxStartLagMs: number }> {
  const total = Math.round(perSecond * seconds);
  const interval = 1000 / perSecond;
  const idle = [...clients];
  const due: number[] = [];
  let issued = 0;
  let committed = 0;
  let maxStartLagMs = 0;
  let failed = false;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const dispatch = () => {
      while (idle.length > 0 && due.length > 0 && !failed) {
        const client = idle.pop()!;
        const dueAt = due.shift()!;
        maxStartLagMs = Math.max(maxStartLagMs, performance.now() - dueAt);
        const id = randomUUID();
        writeSignUp(client, id).then(
          (committedAt) => {
            onCommit(id, committedAt);
            committed += 1;
            idle.push(client);
            if (committed === total) resolve({ count: total, achievedPerSecond: total / ((performance.now() - started) / 1000), maxStartLagMs });
            else dispatch();
          },
          (error: unknown) => {
            // The run is void: stop issuing (writes in flight finish on their own).
            failed = true;
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      }
    };
    const tick = () => {
      if (failed) return;
      const now = performance.now();
      while (issued < total && started + issued * interval <= now) {
        due.push(started + issued * interval);
        issued += 1;
      }
      dispatch();
      if (issued < total) setTimeout(tick, Math.max(0, started + issued * interval - performance.now()));
    };
    tick();
  });
}

/**
 * The usual Supabase recipe for profiles ("handle_new_user"): an AFTER INSERT trigger on
 * auth.users whose SECURITY DEFINER function inserts the profile in the sign-up's transaction,
 * here mapping what the default field map maps. Nothing on UPDATE, as the recipe has (so it sees
 * the row as the INSERT left it). Installed as the service's role, which owns public.users.
 */
export const handleNewUserSql = `
CREATE FUNCTION public.handle_new_user() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
  INSERT INTO public.users (id, email, full_name, avatar_url, phone, role, organization_id)
  VALUES (NEW.id, NEW.email,
          COALESCE(NEW.raw_user_meta_data ->> 'full_name', NEW.raw_user_meta_data ->> 'name'),
          COALESCE(NEW.raw_user_meta_data ->> 'avatar_url', NEW.raw_user_meta_data ->> 'picture'),
          NEW.phone,
          COALESCE(NEW.raw_app_meta_data ->> 'role', NEW.raw_user_meta_data ->> 'role'),
          (NEW.raw_user_meta_data ->> 'organization_id')::uuid);
  RETURN NEW;
END
$$;
CREATE TRIGGER on_auth_user_created
  AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();`;
