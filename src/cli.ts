#!/usr/bin/env node
/**
 * The operators' command line:
 *
 *   supabase-user-sync [--url URL --token TOKEN] missing [--format table|csv|json]
 *   supabase-user-sync [--url URL --token TOKEN] sync <userId> [--dry-run]
 *   supabase-user-sync [--url URL --token TOKEN] status <userId>
 *   supabase-user-sync [--url URL --token TOKEN] reconcile [--dry-run] [--include missing,stale,orphaned]
 *   supabase-user-sync [--url URL --token TOKEN] capture status [--format table|json]
 *   supabase-user-sync capture install
 *   supabase-user-sync capture uninstall
 *
 * With `--url` (or USER_SYNC_URL) and `--token` (or USER_SYNC_TOKEN, a service token) the
 * commands call a running service's API (cli/operations.ts), authenticated, scoped and audited
 * like any caller, embedded or deployed. Without a URL they open the same runtime as the server
 * (runtime.ts), on the same configuration (the environment), without HTTP and without background
 * work: `missing` and `sync` never run the periodic reconcile, deferred syncs, or a job another
 * replica queued; `reconcile` runs the one job it queued. In embedded mode the data folder is
 * PGlite's, which one process may open at a time: use `--url` while the server runs. `capture
 * install|uninstall` change the database's schema, so never over HTTP; `capture status` works both
 * ways, and over HTTP also says whether the service drains the queue.
 *
 * `reconcile` queues a reconcile job, as POST /reconcile does, and follows it: a progress bar on a
 * terminal, one plain line per update when piped, and a summary at the end.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig } from './config/config.ts';
import { ProblemError } from './errors/problems.ts';
import type { CaptureStatus } from './capture/install.ts';
import { CAPTURE_FUNCTION, TRIGGER_NAMES } from './capture/capture-sql.ts';
import type { Config } from './config/config.ts';
import { loggerOptions } from './logging.ts';
import type { JobPhase } from './reconcile/job-store.ts';
import { JOB_PHASES } from './reconcile/jobs.ts';
import { openRuntime, type Runtime } from './runtime.ts';
import { isUuid } from './sync/uuid.ts';
import { csvField } from './cli/csv.ts';
import { inProcess, overHttp, RemoteProblem, type Operations, type ServiceCaptureStatus } from './cli/operations.ts';

const USAGE = `usage:
  supabase-user-sync [--url URL --token TOKEN] missing [--format table|csv|json]
  supabase-user-sync [--url URL --token TOKEN] sync <userId> [--dry-run]
  supabase-user-sync [--url URL --token TOKEN] status <userId>
  supabase-user-sync [--url URL --token TOKEN] reconcile [--dry-run] [--include missing,stale,orphaned]
  supabase-user-sync [--url URL --token TOKEN] capture status [--format table|json]
  supabase-user-sync capture install
  supabase-user-sync capture uninstall`;

const out = (text: string) => process.stdout.write(`${text}\n`);

/** A mistake in how the CLI was called: its message, and exit code 2. */
class UsageError extends Error {}


function progressLine(done: number, total: number | null, tty: boolean): string {
  if (total === null || total === 0) return tty ? `\r${done.toLocaleString('en')} done` : `progress ${done}`;
  const share = Math.min(1, done / total);
  if (!tty) return `progress ${done}/${total} (${Math.floor(share * 100)}%)`;
  const width = 30;
  const filled = Math.round(share * width);
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en')}/${total.toLocaleString('en')} (${Math.floor(share * 100)}%)`;
}

const TRIGGER_EVENTS: Record<keyof typeof TRIGGER_NAMES, string> = { insertDelete: 'AFTER INSERT OR DELETE', update: 'AFTER UPDATE' };

const TRIGGER_STATES: Record<CaptureStatus['triggers'][keyof typeof TRIGGER_NAMES], string> = {
  absent: 'absent',
  current: 'current',
  stale: 'stale (made for another FIELD_MAP or an older version; `capture install` replaces it)',
  disabled: 'disabled (ALTER TABLE auth.users ENABLE TRIGGER turns it back on)',
};

/** The service's side, which only the service knows (over HTTP): does it drain the queue? */
function describeService(service: ServiceCaptureStatus['service']): string {
  return service.state === 'on' ? '  service: draining the queue' : `  service: not draining the queue (${service.reason ?? 'off'})`;
}

function describeStatus(status: CaptureStatus): string[] {
  const triggers = Object.values(status.triggers);
  const summary = status.current
    ? 'installed and current: every change of auth.users is recorded'
    : triggers.every((state) => state === 'absent')
      ? 'not installed'
      : 'installed, but not current: `capture install` brings it up to date';
  const age = status.oldestChangeAgeSeconds;
  const queue =
    status.queueDepth === null
      ? 'absent (user_sync.changes does not exist; `capture install` lays it out)'
      : status.queueDepth === 0
        ? '0 changes waiting'
        : `${status.queueDepth} change(s) waiting, the oldest ${age === null ? '?' : age.toFixed(1)} s old`;
  return [
    `capture: ${summary}`,
    ...Object.entries(TRIGGER_NAMES).map(
      ([key, name]) =>
        `  trigger ${name} (${TRIGGER_EVENTS[key as keyof typeof TRIGGER_NAMES]} ON auth.users): ${TRIGGER_STATES[status.triggers[key as keyof typeof TRIGGER_NAMES]]}`,
    ),
    `  role: ${status.role}, ${status.canTrigger ? 'has' : 'lacks'} the TRIGGER privilege on auth.users`,
    `  queue: ${queue}`,
  ];
}

const CAPTURE_SUBCOMMANDS = ['status', 'install', 'uninstall'] as const;
type CaptureSubcommand = (typeof CAPTURE_SUBCOMMANDS)[number];
const isCaptureSubcommand = (word: string | undefined): word is CaptureSubcommand => CAPTURE_SUBCOMMANDS.includes(word as CaptureSubcommand);

/** `capture status|install|uninstall`: capture as an operator handles it, on SQL back ends. */
async function captureCommand(runtime: Runtime, config: Config, subcommand: CaptureSubcommand, format: string): Promise<number> {
  const control = runtime.captureControl;
  if (control === undefined) {
    process.stderr.write(
      'supabase-user-sync: capture needs a SQL back end (embedded, or postgres with DATABASE_URL); Supabase API mode ' +
        'cannot install triggers, and changes reach the service through webhooks and the periodic reconcile\n',
    );
    return 2;
  }
  const configuredOff = config.capture.enabled ? [] : ['note: CAPTURE=off here: the service will not drain the queue while it is off'];
  switch (subcommand) {
    case 'status': {
      const status = await control.status();
      if (format === 'json') out(JSON.stringify(status, null, 2));
      else for (const line of [...describeStatus(status), ...configuredOff]) out(line);
      return 0;
    }
    case 'install': {
      const mode = await control.install();
      if (!mode.active) {
        process.stderr.write(`supabase-user-sync: capture could not be installed: ${mode.reason}\n`);
        return 1;
      }
      out(
        mode.installed === 'now'
          ? `capture installed: triggers ${Object.values(TRIGGER_NAMES).join(' and ')} on auth.users, function ${CAPTURE_FUNCTION}(), queue user_sync.changes`
          : 'capture was already installed and current: nothing to do',
      );
      for (const line of configuredOff) out(line);
      return 0;
    }
    default: {
      const { removed } = await control.uninstall();
      if (removed.length === 0) out('capture was not installed: nothing to remove');
      else {
        out('removed:');
        for (const item of removed) out(`  ${item}`);
      }
      if (config.capture.enabled) out('note: the service installs capture again at its next start unless CAPTURE=off');
      return 0;
    }
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: 'string', default: 'table' },
      'dry-run': { type: 'boolean', default: false },
      include: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
  const captureSubcommand = rest[0];
  if (command === 'capture' && !isCaptureSubcommand(captureSubcommand)) {
    out(USAGE);
    return 2;
  }
  if (command === 'capture' && captureSubcommand === 'status' && !['table', 'json'].includes(values.format)) {
    throw new UsageError('--format is table or json for capture status');
  }

  const url = values.url ?? process.env.USER_SYNC_URL;
  if (url !== undefined && url !== '') {
    if (command === 'capture' && captureSubcommand !== 'status') {
      throw new UsageError(
        `capture ${captureSubcommand} changes the database's schema, so it is not an API call: run it without --url (USER_SYNC_URL), where DATABASE_URL reaches the database`,
      );
    }
    if (!/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError(`--url is the service's base URL, such as http://127.0.0.1:3000 (got "${url}")`);
    const token = values.token ?? process.env.USER_SYNC_TOKEN;
    if (token === undefined || token === '') throw new UsageError('--url needs --token (or USER_SYNC_TOKEN): a service token of the service');
    const remote = overHttp(url, token);
    if (command === 'capture') {
      const status = await remote.captureStatus();
      if (values.format === 'json') out(JSON.stringify(status, null, 2));
      else {
        const [summary, ...details] = describeStatus(status);
        for (const line of [summary!, describeService(status.service), ...details]) out(line);
      }
      return 0;
    }
    return run(remote, command, rest, values);
  }

  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  // Logs go to stderr, so stdout holds only the command's output (a CSV or JSON to pipe on).
  // Never installs capture as the server does at start: `capture install` is the one command that does.
  const runtime = await openRuntime(config, {
    logger: pino(loggerOptions(config.logLevel, false, config.secrets), pino.destination(2)),
    installCapture: false,
  });
  try {
    if (command === 'capture') return await captureCommand(runtime, config, captureSubcommand as CaptureSubcommand, values.format);
    return await run(inProcess(runtime), command, rest, values);
  } finally {
    await runtime.close();
  }
}

interface CommandOptions {
  format: string;
  'dry-run': boolean;
  include?: string | undefined;
}

/** The commands that work the same in this process and over HTTP. */
async function run(operations: Operations, command: string, rest: string[], values: CommandOptions): Promise<number> {
  const userIdArgument = () => {
    const [userId] = rest;
    if (userId === undefined || !isUuid(userId)) throw new UsageError(`${command} needs a user id (UUID)`);
    return userId.toLowerCase();
  };
  switch (command) {
    case 'missing': {
      if (!['table', 'csv', 'json'].includes(values.format)) throw new UsageError('--format is table, csv or json');
      const users = [];
      for (let cursor: string | null = null; ; ) {
        const page = await operations.listMissing(cursor, 1000);
        users.push(...page.items);
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
      if (values.format === 'json') out(JSON.stringify(users, null, 2));
      else if (values.format === 'csv') {
        out('id,email,createdAt');
        for (const user of users) out([user.id, user.email, user.createdAt].map(csvField).join(','));
      } else {
        const width = Math.max(5, ...users.map((user) => (user.email ?? '').length));
        out(`${'id'.padEnd(36)}  ${'email'.padEnd(width)}  createdAt`);
        for (const user of users) out(`${user.id}  ${(user.email ?? '').padEnd(width)}  ${user.createdAt ?? ''}`);
        out(`${users.length} user(s) without a profile`);
      }
      return 0;
    }
    case 'sync': {
      out(JSON.stringify(await operations.sync(userIdArgument(), values['dry-run']), null, 2));
      return 0;
    }
    case 'status': {
      out(JSON.stringify(await operations.status(userIdArgument()), null, 2));
      return 0;
    }
    case 'reconcile': {
      const include = (values.include?.split(',').map((step) => step.trim()) ?? [...JOB_PHASES]) as JobPhase[];
      const unknown = include.find((step) => !JOB_PHASES.includes(step));
      if (unknown !== undefined) throw new UsageError(`--include takes ${JOB_PHASES.join(', ')}; not "${unknown}"`);
      const tty = process.stdout.isTTY === true;
      const jobId = await operations.startReconcile({ dryRun: values['dry-run'], include });
      out(`reconcile job ${jobId}${values['dry-run'] ? ' (dry run: nothing is written)' : ''}`);
      let last = '';
      for (;;) {
        const job = await operations.job(jobId);
        const line = progressLine(job.done, job.total, tty);
        if (line !== last) {
          process.stdout.write(tty ? line : `${line}\n`);
          last = line;
        }
        if (job.status === 'succeeded' || job.status === 'failed') {
          if (tty) process.stdout.write('\n');
          const { created, updated, unchanged, deleted, failed } = job.counts;
          out(`${job.status}: ${created} created, ${updated} updated, ${unchanged} unchanged, ${deleted} deleted, ${failed} failed`);
          for (const error of job.errors) out(`  failed ${error.userId}: ${error.code}: ${error.detail}`);
          if (job.failure) out(`  ${job.failure}`);
          return job.status === 'succeeded' ? 0 : 1;
        }
        await new Promise((resolve) => setTimeout(resolve, tty ? 100 : 250));
      }
    }
    default:
      out(USAGE);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const message =
    error instanceof ConfigError || error instanceof ProblemError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`supabase-user-sync: ${message}\n`);
  // 2: the caller's mistake (a bad argument, or a 4xx from the service), 1: anything else.
  const callersFault =
    error instanceof UsageError || (error instanceof ProblemError && error.status < 500) || (error instanceof RemoteProblem && error.status < 500);
  process.exitCode = callersFault ? 2 : 1;
}
