/**
 * The service without HTTP, made once: open the database (or the Supabase APIs) the
 * configuration names, apply the service's migrations, read the profile table, check the field
 * map and delete policy against it, and build the stores, the engine, the reconcile, the jobs and
 * the webhook deliveries on top. A wrong table, map or key stops start-up here, with a message
 * naming the variable.
 *
 * The server (app.ts adds HTTP), the CLI and the tests all start from `openRuntime`. Nothing runs
 * in the background until `startBackground()`: the server calls it once it is ready; a CLI
 * command that only reads never does.
 */
import { createClient } from '@supabase/supabase-js';
import { CaptureDrain, type DrainReport } from './capture/drain.ts';
import { captureQueue, captureStatus, installCapture, uninstallCapture, type CaptureMode, type CaptureStatus } from './capture/install.ts';
import type { BackendMode, Config } from './config/config.ts';
import { ConfigError } from './config/config.ts';
import { migrate } from './db/migrate.ts';
import { createPgClient } from './db/pg-client.ts';
import { readProfileTable, type ProfileTable } from './db/profile-table.ts';
import type { SqlClient } from './db/sql-client.ts';
import { SqlProfileStore } from './db/sql-profile-store.ts';
import { SqlServiceState } from './db/sql-service-state.ts';
import { openEmbeddedDatabase } from './embedded/open-embedded.ts';
import { ProblemError } from './errors/problems.ts';
import type { Log } from './logging.ts';
import { JobRunner } from './reconcile/jobs.ts';
import { Reconciler, type ReconcilerOptions } from './reconcile/reconciler.ts';
import { startSchedule, type Schedule } from './reconcile/schedule.ts';
import { MemoryServiceState } from './supabase/memory-service-state.ts';
import { readProfileTableOverRest } from './supabase/profile-table.ts';
import { SupabaseProfileStore } from './supabase/supabase-profile-store.ts';
import { SyncEngine, type SyncObserver } from './sync/engine.ts';
import { resolveFieldMap, type FieldMapping } from './sync/field-map.ts';
import { profileRules, type ProfileRules } from './sync/profile-rules.ts';
import type { ProfileStore } from './sync/profile-store.ts';
import type { ServiceState } from './sync/service-state.ts';
import { WebhookDeliveries } from './webhooks/deliveries.ts';

export interface Runtime {
  mode: BackendMode;
  /** Where the data lives, for the start-up banner: never a password. */
  description: string;
  profiles: ProfileStore;
  state: ServiceState;
  engine: SyncEngine;
  reconciler: Reconciler;
  jobs: JobRunner;
  deliveries: WebhookDeliveries;
  /** The SQL back end's database (embedded or PostgreSQL); undefined in Supabase API mode. */
  sql: SqlClient | undefined;
  /** Capture (src/capture/): whether it is on, and why not. */
  capture: CaptureInfo;
  /** Seconds between reconcile passes (0: off): RECONCILE_INTERVAL_SECONDS, else by capture. */
  reconcileIntervalSeconds: number;
  /** Capture commands, on SQL back ends. */
  captureControl?: CaptureControl;
  /** Starts the periodic reconcile, deferred syncs, the job queue's polling and the capture drain. Once. */
  startBackground(): void;
  /** Stops background work (a run in progress finishes first), then closes what was opened. */
  close(): Promise<void>;
}

export type CaptureInfo =
  | { state: 'on'; installed: 'now' | 'already' }
  | { state: 'off'; reason: string }
  | { state: 'unavailable'; reason: string };

/** Capture as an operator handles it (SQL back ends only): the CLI's `capture` commands. */
export interface CaptureControl {
  status(): Promise<CaptureStatus>;
  /** The queue alone (depth, oldest change's age), without the privilege and trigger checks. */
  queue(): ReturnType<typeof captureQueue>;
  install(): Promise<CaptureMode>;
  uninstall(): Promise<{ removed: string[] }>;
  /** Drains one batch now (the server drains by itself once its background work runs). */
  drainBatch(): Promise<DrainReport>;
}

/** Without capture the reconcile is how missed changes are found; with it, only the safety net. */
const RECONCILE_SECONDS = { withoutCapture: 300, withCapture: 3600 };

export interface RuntimeOptions {
  /** An already open database to use instead of the one the configuration names (tests). Not closed. */
  sql?: SqlClient;
  logger?: Log;
  /** Told of what happens, for metrics. */
  observers?: {
    sync?: SyncObserver;
    reconcile?: ReconcilerOptions['onRun'];
    delivery?: (kind: string, outcome: string) => void;
    capture?: (report: DrainReport) => void;
    /** The users of each statement that joined concurrent one-user syncs (db/sync-batches.ts). */
    syncBatch?: (size: number) => void;
  };
  /**
   * Install capture at start-up when the configuration asks for it (default). The CLI opens the
   * runtime without, and installs or removes it only when told to.
   */
  installCapture?: boolean;
}

const SILENT: Log = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** What a back end opens: its stores, and how to close them. */
interface Opened {
  table: ProfileTable;
  mapping: FieldMapping;
  rules: ProfileRules;
  profiles: ProfileStore;
  state: ServiceState;
  description: string;
  /** The SQL back end's database and store, for capture; absent in Supabase API mode. */
  sql?: { client: SqlClient; profiles: SqlProfileStore };
  close(): Promise<void>;
}

/** The table, map and rules, checked against each other; a mismatch is a ConfigError. */
function profileSetup(config: Config, table: ProfileTable) {
  const mapping = resolveFieldMap(config.profile.fieldMap, table);
  return { table, mapping, rules: profileRules(table, mapping, config.profile.deletePolicy, config.userTokens.syncAnonymous) };
}

async function openSqlClient(config: Config, options: RuntimeOptions, log: Log): Promise<{ sql: SqlClient; description: string; owned: boolean }> {
  if (options.sql) return { sql: options.sql, description: `${options.sql.driver} (provided)`, owned: false };
  if (config.mode === 'embedded') {
    const { sql, created } = await openEmbeddedDatabase(config.embedded);
    if (created) log.info({ dataDir: config.embedded.dataDir }, 'embedded database laid out and seeded');
    return { sql, description: `embedded (${config.embedded.dataDir})`, owned: true };
  }
  const url = new URL(config.database.url!);
  const sql = createPgClient({ connectionString: config.database.url!, max: config.database.poolMax, logger: log });
  return { sql, description: `postgres (${url.hostname}:${url.port || 5432}${url.pathname})`, owned: true };
}

/** SQL back ends (embedded PGlite, PostgreSQL): profiles and the service's state in one database. */
async function openSql(config: Config, options: RuntimeOptions, log: Log): Promise<Opened> {
  const { sql, description, owned } = await openSqlClient(config, options, log);
  try {
    const { applied } = await migrate(sql);
    if (applied.length > 0) log.info({ applied }, 'user_sync migrations applied');
    const setup = profileSetup(config, await readProfileTable(sql, config.profile.table));
    const profiles = SqlProfileStore.create(sql, setup.table, setup.mapping, setup.rules, {
      ...config.database.joining,
      onBatch: options.observers?.syncBatch,
    });
    return {
      ...setup,
      profiles,
      state: new SqlServiceState(sql, profiles),
      description,
      sql: { client: sql, profiles },
      close: () => (owned ? sql.close() : Promise.resolve()),
    };
  } catch (error) {
    if (owned) await sql.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Supabase API mode: supabase-js for auth users, PostgREST for the profile table, the service's
 * state in this process. The key is tried at once, so a wrong one stops start-up with a message
 * naming its variable.
 */
async function openSupabase(config: Config, log: Log): Promise<Opened> {
  const { url, serviceKey, keyVariable, idChunkSize } = config.supabase;
  const refused = (error: unknown) =>
    error instanceof ProblemError && error.code === 'supabase_unauthorized'
      ? new ConfigError(`invalid configuration:\n  ${keyVariable}: ${error.message}`)
      : error;
  const client = createClient(url!, serviceKey!, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  const table = await readProfileTableOverRest(url!, serviceKey!, config.profile.table).catch((error: unknown) => {
    throw refused(error);
  });
  const setup = profileSetup(config, table);
  const profiles = new SupabaseProfileStore({ client, ...setup, log, idChunkSize });
  await profiles.ping().catch((error: unknown) => {
    throw refused(error);
  });
  return {
    ...setup,
    profiles,
    state: new MemoryServiceState(profiles),
    description: `supabase (${new URL(url!).host})`,
    close: async () => undefined,
  };
}

/**
 * Capture on a SQL back end: installed (or found current) when CAPTURE is on, with the drain that
 * empties its queue. Supabase API mode has no way to install a trigger.
 */
async function openCapture(config: Config, opened: Opened, options: RuntimeOptions, log: Log) {
  if (opened.sql === undefined) {
    const reason = 'Supabase API mode cannot install triggers; changes arrive through webhooks and the periodic reconcile';
    if (config.capture.enabled) log.info({ reason }, 'capture unavailable');
    return { capture: { state: 'unavailable', reason } as CaptureInfo };
  }
  const { client, profiles } = opened.sql;
  const drain = new CaptureDrain(
    client,
    profiles,
    {
      batchSize: config.capture.batchSize,
      pollMs: config.capture.pollMs,
      ...(options.observers?.capture ? { observe: options.observers.capture } : {}),
      ...(options.observers?.sync ? { observeSyncs: options.observers.sync } : {}),
    },
    log,
  );
  const control: CaptureControl = {
    status: () => captureStatus(client, opened.mapping),
    queue: () => captureQueue(client),
    install: () => installCapture(client, opened.mapping, log),
    uninstall: () => uninstallCapture(client),
    drainBatch: () => drain.drainBatch(),
  };
  if (!config.capture.enabled) {
    const status = await captureStatus(client, opened.mapping);
    if (status.triggers.insertDelete !== 'absent' || status.triggers.update !== 'absent') {
      log.warn(
        { queueDepth: status.queueDepth },
        'CAPTURE=off, but capture triggers are installed on auth.users: their changes queue up undrained. Remove them with `npm run cli -- capture uninstall`',
      );
    }
    return { capture: { state: 'off', reason: 'CAPTURE=off' } as CaptureInfo, control };
  }
  if (options.installCapture === false) {
    return { capture: { state: 'off', reason: 'not installed by this command' } as CaptureInfo, control };
  }
  const mode = await installCapture(client, opened.mapping, log);
  if (!mode.active) return { capture: { state: 'off', reason: mode.reason } as CaptureInfo, control };
  return { capture: { state: 'on', installed: mode.installed } as CaptureInfo, control, drain };
}

export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const log = options.logger ?? SILENT;
  const observers = options.observers ?? {};
  // Tests hand a SQL database to any mode; otherwise the mode decides.
  const opened = config.mode === 'supabase' && options.sql === undefined ? await openSupabase(config, log) : await openSql(config, options, log);
  const { profiles, state, mapping, rules } = opened;
  log.info(
    { table: opened.table.name, columns: mapping.columns.map(({ column, sources }) => `${column} <- ${sources.join(' | ')}`) },
    'profile mapping',
  );

  const engine = new SyncEngine(profiles, mapping, rules, observers.sync);
  const { batchSize } = config.reconcile;
  const reconciler = new Reconciler(
    profiles,
    state,
    engine,
    { batchSize, retentionHours: config.webhooks.retentionHours, ...(observers.reconcile ? { onRun: observers.reconcile } : {}) },
    log,
  );
  const jobs = new JobRunner(profiles, state, engine, { batchSize }, log);

  const { capture, control, drain } = await openCapture(config, opened, options, log);
  const reconcileIntervalSeconds =
    config.reconcile.intervalSeconds ?? (capture.state === 'on' ? RECONCILE_SECONDS.withCapture : RECONCILE_SECONDS.withoutCapture);
  let schedule: Schedule | undefined;
  let drainStarted: Promise<void> | undefined;
  return {
    mode: config.mode,
    description: opened.description,
    sql: opened.sql?.client,
    profiles,
    state,
    engine,
    reconciler,
    jobs,
    deliveries: new WebhookDeliveries(state, engine, observers.delivery),
    capture,
    reconcileIntervalSeconds,
    ...(control ? { captureControl: control } : {}),
    startBackground() {
      schedule ??= startSchedule(reconciler, jobs, { ...config.reconcile, intervalSeconds: reconcileIntervalSeconds }, log);
      drainStarted ??= drain?.start();
    },
    async close() {
      await drainStarted;
      await drain?.stop();
      await schedule?.stop();
      // A job started by a command (the CLI's reconcile) finishes its batch before the database closes.
      await jobs.stop();
      await opened.close();
    },
  };
}
